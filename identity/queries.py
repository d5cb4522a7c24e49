"""Reading and writing big results set-based: rows streamed in constant memory, with settings
for heavy statements, and rows copied in. Detection, the candidate lifecycle and resolution go
through these."""

from django.db import connection, transaction

FETCH_SIZE = 10_000


def stream(sql, params):
    """Rows of a query through a server-side cursor: memory stays flat whatever the count."""
    with transaction.atomic():
        with connection.cursor() as settings:
            # Plan for every row, not the first tenth (a named cursor's default).
            settings.execute("SET LOCAL cursor_tuple_fraction = 1.0")
            heavy_query_settings(settings)
        with connection.connection.cursor(name="stream") as cursor:
            cursor.itersize = FETCH_SIZE
            cursor.execute(sql, params)
            yield from cursor


def id_array(ids):
    """Ids as one PostgreSQL array literal (`%s::bigint[]`): a hundred thousand of them cost a
    string join, where a Python list costs a conversion each."""
    return "{" + ",".join(str(int(pk)) for pk in ids) + "}"


def heavy_query_settings(cursor):
    """For the rest of the transaction: no JIT, and sorts and hashes in memory."""
    cursor.execute("SET LOCAL jit = off")
    cursor.execute("SET LOCAL work_mem = '64MB'")


def copy_out(sql, params, types):
    """Rows of a query through COPY TO STDOUT: streamed like stream, and unlike a cursor the
    query may run on parallel workers (a full run's similar-people statement is the heavy one).
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            heavy_query_settings(cursor)
            with cursor.cursor.copy(f"COPY ({sql}) TO STDOUT", params) as copy:
                copy.set_types(types)
                yield from copy.rows()


def copy_in(cursor, table, types, rows):
    """COPY `rows` into `table` ("name (columns)") in the binary format, as values of `types`
    (psycopg's type names): psycopg writes binary rows in C, about a tenth of the text
    format's cost a row. `cursor` is a psycopg cursor; its errors are raised as Django's
    (IntegrityError and the like), as a Django cursor's are."""
    with connection.wrap_database_errors, cursor.copy(
        f"COPY {table} FROM STDIN (FORMAT binary)"
    ) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def id_sequence(table):
    """A CTE `sequence (id)`: the regclass of `table`'s id sequence, looked up once. Written
    as nextval(pg_get_serial_sequence(...)) in a row's expression, the lookup (by name, in the
    catalogs) runs for every row, and costs five times the nextval it feeds."""
    return (f"sequence AS MATERIALIZED "
            f"(SELECT pg_get_serial_sequence('{table}', 'id')::regclass AS id)")


def next_ids(cursor, table, count):
    """`count` new ids from `table`'s id sequence, for rows inserted with them."""
    cursor.execute(
        f"WITH {id_sequence(table)} "
        "SELECT nextval(sequence.id) FROM sequence, generate_series(1, %s::int)",
        [count],
    )
    return [pk for (pk,) in cursor.fetchall()]


def chunks(rows, size):
    for start in range(0, len(rows), size):
        yield rows[start:start + size]
