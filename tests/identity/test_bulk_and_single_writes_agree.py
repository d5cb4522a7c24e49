"""One rulebook: the same records written one at a time (an upsert each) and loaded by
`import_profiles` in batches (the bulk path) leave the same profiles, identifiers, candidates
and conflicts (hypothesis draws the records: shared emails, phones and ids, do-not-merge
customer ids, invalid values, attributes at equal and different times)."""

import csv
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from identity.matching.detect import detect_all
from identity.models import DuplicateCandidate, Identifier, IdentityConflict
from identity.writing.importer import InvalidWrite, import_csv, read_columns, row_payload
from identity.writing.parsing import parse_write
from identity.writing.resolution import identifier_types, resolve_write, resolve_writes
from profiles.models import Profile

pytestmark = pytest.mark.django_db

COLUMNS = ["email", "phone", "customer_id", "loyalty_card", "first_name", "city", "seen"]
MATCH_KEYS = ["email", "customer_id", "loyalty_card"]

EMAIL = st.sampled_from(["", "ann@example.com", " Ann@Example.com", "bob@example.com",
                         "cy@example.com", "not an address"])
PHONE = st.sampled_from(["", "(212) 555-0134", "+1 212 555 0134", "212.555.0199", "12"])
CUSTOMER_ID = st.sampled_from(["", "C1", "C2", " C3 "])
LOYALTY_CARD = st.sampled_from(["", "L1", "L2"])
FIRST_NAME = st.sampled_from(["", "Ann", "Anne", "Bob"])
CITY = st.sampled_from(["", "Leeds", "York"])
SEEN = st.integers(0, 3).map(
    lambda n: (datetime(2026, 3, 1, tzinfo=UTC) + timedelta(hours=n)).isoformat()
)
ROW = st.tuples(EMAIL, PHONE, CUSTOMER_ID, LOYALTY_CARD, FIRST_NAME, CITY, SEEN)


# Without shrinking: a failing example is shown as drawn (shrinking one took minutes).
EXAMPLES = dict(deadline=None, derandomize=True,
                phases=[Phase.explicit, Phase.reuse, Phase.generate],
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@settings(max_examples=30, **EXAMPLES)
@given(
    rows=st.lists(ROW, min_size=1, max_size=40),
    match_key=st.sampled_from(MATCH_KEYS),
    batch_size=st.sampled_from([1, 3, 2000]),
    fresh=st.booleans(),
)
def test_rows_loaded_in_batches_end_as_the_same_rows_written_one_by_one(
    tmp_path_factory, rows, match_key, batch_size, fresh
):
    # Inside the test's transaction: the import resolves its batches one after the other.
    _loaded_and_one_by_one_agree(tmp_path_factory, rows, match_key, batch_size, fresh)


@pytest.mark.django_db(transaction=True)
@settings(max_examples=12, **EXAMPLES)
@given(
    rows=st.lists(ROW, min_size=8, max_size=40),
    match_key=st.sampled_from(MATCH_KEYS),
    batch_size=st.sampled_from([1, 2, 3]),
)
def test_batches_resolved_side_by_side_end_as_the_rows_written_one_by_one(
    tmp_path_factory, rows, match_key, batch_size
):
    # As an import runs: the next batch resolved while the one before it is written, small
    # batches so that neighbours meet the same people.
    _loaded_and_one_by_one_agree(tmp_path_factory, rows, match_key, batch_size, fresh=False)


def _loaded_and_one_by_one_agree(tmp_path_factory, rows, match_key, batch_size, fresh):
    rows = [list(row) for row in rows]
    if fresh:  # enough new identifiers in a batch for it to insert them by COPY
        rows += [[f"new{n}@example.com", "", f"N{n}", "", "Dee", "York", rows[0][-1]]
                 for n in range(60)]
    rows = [row for row in rows if row[COLUMNS.index(match_key)].strip()] or [
        ["zed@example.com", "", "Z1", "LZ", "", "", rows[0][-1]]
    ]
    path = tmp_path_factory.mktemp("load") / "people.csv"
    with open(path, "w", newline="", encoding="utf-8") as file:
        csv.writer(file).writerows([COLUMNS, *rows])

    _clear()
    created_one_by_one = _write_one_by_one(path, rows, match_key)
    one_by_one = _state()

    _clear()
    summary = import_csv(path, match_key=match_key, observed_at_column="seen",
                         batch_size=batch_size, detect=False)
    detect_all()
    loaded = _state()

    assert summary.created == created_one_by_one
    assert loaded == one_by_one


def _write_one_by_one(path, rows, match_key):
    types = identifier_types()
    columns = read_columns(COLUMNS, types=types, match_key=match_key, observed_at_column="seen")
    created = 0
    for cells in rows:
        if not any(cell.strip() for cell in cells):
            continue
        try:
            write = parse_write(row_payload(columns, cells), types=types, source=path.name)
        except InvalidWrite:
            continue
        created += resolve_write(write).created
    detect_all()
    return created


def _clear():
    with connection.cursor() as cursor:
        for table in ["identity_candidatemember", "identity_identityconflict",
                      "identity_duplicatecandidate", "identity_identifier",
                      "identity_profilefeatures", "identity_junkvalue", "profiles_profile"]:
            cursor.execute(f"DELETE FROM {table}")


def _state():
    """Everything the writes left, with profiles named by the identifiers they hold (batches
    resolved side by side may create them in another order)."""
    held = {}
    for profile_id, key, value in Identifier.objects.values_list(
        "profile_id", "type__key", "value"
    ):
        held.setdefault(profile_id, []).append((key, value))
    rank = {pk: tuple(sorted(values)) for pk, values in held.items()}
    profiles = sorted((rank[p.pk], p.status, p.attributes) for p in Profile.objects.all())
    identifiers = sorted(
        (rank[i.profile_id], i.type.key, i.value, i.raw_value, i.is_current, i.grants_access,
         i.source, i.first_seen, i.last_seen)
        for i in Identifier.objects.select_related("type")
    )
    candidates = sorted(
        (sorted(rank[pk] for pk in c.profiles.values_list("pk", flat=True)), c.status, c.score,
         sorted(str(sorted((k, v) for k, v in e.items() if k in ("rule", "type", "value")))
                for e in c.evidence))
        for c in DuplicateCandidate.objects.all()
    )
    conflicts = sorted(
        (c.kind, rank[c.profile_id], c.type.key, c.value,
         None if c.held_by_id is None else rank[c.held_by_id], c.current_value, c.source,
         c.first_observed_at, c.last_observed_at, c.times, c.candidate_id is not None)
        for c in IdentityConflict.objects.select_related("type")
    )
    return {"profiles": profiles, "identifiers": identifiers, "candidates": candidates,
            "conflicts": conflicts}


def test_an_older_sighting_arriving_later_is_the_identifiers_first_sighting_alone_or_in_a_batch():
    types = identifier_types()

    def jane(hour):
        return parse_write({"record": {"email": "jane@example.com"}, "matchKey": "email",
                            "observedAt": f"2026-03-01T{hour:02d}:00:00+00:00"}, types=types)

    for hour in (5, 9, 1):  # one write at a time
        resolve_write(jane(hour))
    alone = Identifier.objects.values_list("first_seen", "last_seen").get()
    _clear()
    resolve_writes([jane(hour) for hour in (5, 9, 1)])  # one batch
    batched = Identifier.objects.values_list("first_seen", "last_seen").get()

    assert alone == batched
    assert [moment.hour for moment in alone] == [1, 9]
