"""A connection keeps its plans for the write path's statements from the first writes on, when
the tables may be empty; as the tables grow, a write must still look its rows up by index: never
scan the profile or identifier table sequentially, nor walk a whole index (each reads the whole,
growing table)."""

import pytest
from django.db import connection

from tests.factories import make_token, post_json

pytestmark = pytest.mark.django_db(transaction=True)

TABLES = ("profiles_profile", "identity_identifier")


def upsert(client, token, n, **record):
    response = post_json(
        client, "/api/v1/profiles/upsert",
        {"record": {"email": f"writer{n}@example.com", "visits": n, **record},
         "matchKey": "email"},
        token,
    )
    assert response.status_code in (200, 201), response.content
    return response


def statistics(sql):
    """Rows of `sql` over the activity statistics of TABLES (`%s`: their names) so far, this
    connection's own included."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")  # flushed as the session idles
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(sql, [list(TABLES)])
        return cursor.fetchall()


def sequential_scans():
    """Sequential scans of TABLES so far."""
    return dict(statistics(
        "SELECT relname, seq_scan FROM pg_stat_user_tables WHERE relname = ANY(%s)"
    ))


def index_entries_read():
    """Index entries read from TABLES so far, by every index of theirs."""
    (read,), = statistics(
        "SELECT sum(idx_tup_read) FROM pg_stat_user_indexes WHERE relname = ANY(%s)"
    )
    return read


def grow_tables(rows):
    """`rows` more customers, each a profile with an email, written in bulk."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH p AS (
                INSERT INTO profiles_profile (status, attributes, created_at, updated_at)
                SELECT 'active', '{}', now(), now() FROM generate_series(1, %s)
                RETURNING id
            )
            INSERT INTO identity_identifier (profile_id, type_id, raw_value, value, is_current,
                is_unique, is_single_valued, grants_access, source, first_seen, last_seen)
            SELECT p.id, t.id, 'bulk' || p.id || '@example.com', 'bulk' || p.id || '@example.com',
                true, t.unique, t.single_valued, false, 'bulk', now(), now()
            FROM p, identity_identifiertype t WHERE t.key = 'email'
            """,
            [rows],
        )


def test_writes_never_scan_the_profile_or_identifier_table_as_it_grows(client):
    token = make_token()
    with connection.cursor() as cursor:  # statistics of the empty tables, as on a new install
        cursor.execute(f"ANALYZE {', '.join(TABLES)}")
    # Enough writes on the empty tables for the connection to prepare and keep its statements:
    # new people, people written again, a phone replacing another (the single-valued path).
    for n in range(8):
        upsert(client, token, n, phone=f"+1 212 555 {n:04}")
        upsert(client, token, n, phone=f"+1 212 555 {n + 100:04}")
    grow_tables(20_000)
    before, read_before = sequential_scans(), index_entries_read()

    for n in range(8, 16):
        upsert(client, token, n, phone=f"+1 212 555 {n:04}")
        upsert(client, token, n, phone=f"+1 212 555 {n + 100:04}")
    upsert(client, token, 0, first_name="Ada")

    assert sequential_scans() == before
    # 17 writes each read a few entries; one walk of an index would read 20,000.
    assert index_entries_read() - read_before < 2_000
