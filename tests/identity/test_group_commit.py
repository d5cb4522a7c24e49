"""Group commit (identity/writing/batching.py): concurrent writes of one process share a
transaction, and each still gets exactly its own answer.

Each write is submitted from a thread of its own (its own database connection). All are
announced before the first is submitted, so the leader waits for every one of them: one batch.
"""

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest
from django.db import connection

from identity.matching import pending
from identity.models import ApiToken, IdempotencyRecord, Identifier, IdentifierType
from identity.writing.batching import GroupCommit, resolve_alone
from identity.writing.parsing import body_hash, parse_write
from identity.writing.resolution import ResolutionBusy, Stale, identifier_types
from profiles.models import Profile
from tests.factories import make_token

pytestmark = pytest.mark.django_db(transaction=True)


def body(record, match_key="email"):
    return {"record": record, "matchKey": match_key}


def in_one_batch(*submissions, types=None, group=None):
    """Submit (body, key) or (body, key, token) at once, parsed under `types` (by default the
    current ones); the Outcome, or the exception raised, of each."""
    default_token = ApiToken.objects.first()
    types = types or identifier_types()
    group = group or GroupCommit(max_batch=len(submissions), max_wait=60)

    def submit(arrival, submission):
        payload, key, token = (*submission, default_token)[:3]
        try:
            return arrival.submit(
                parse_write(payload, types=types, source=token.name), token=token, key=key,
                body_hash=body_hash(payload), fingerprint=types.fingerprint,
            )
        except Exception as error:
            return error
        finally:
            connection.close()

    with ExitStack() as stack, ThreadPoolExecutor(len(submissions)) as pool:
        arrivals = [stack.enter_context(group.arrival()) for _ in submissions]
        return list(pool.map(submit, arrivals, submissions))


def transactions_of(model):
    """How many transactions wrote the rows of `model` (their distinct xmin)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(DISTINCT xmin::text) FROM {model._meta.db_table}")
        return cursor.fetchone()[0]


@pytest.fixture
def token():
    return make_token()


def test_concurrent_writes_commit_together_and_each_gets_its_own_answer(token):
    outcomes = in_one_batch(
        (body({"email": "ann@example.com", "first_name": "Ann"}), None),
        (body({"email": " ANN@example.com", "customer_id": "C-1"}), None),
        (body({"customer_id": "C-1", "phone": "(212) 555-0142"}, "customer_id"), None),
        (body({"email": "bob@example.com"}), None),
        (body({"email": "Bob@Example.com", "city": "Boston"}), None),
    )

    ann, bob = outcomes[:3], outcomes[3:]
    for outcomes_of_one_person in (ann, bob):
        assert sorted(o.status for o in outcomes_of_one_person)[-1] == 201
        assert [o.body["created"] for o in outcomes_of_one_person].count(True) == 1
        assert len({o.body["profileId"] for o in outcomes_of_one_person}) == 1
        assert all(o.body["conflicts"] == [] for o in outcomes_of_one_person)
    assert Profile.objects.count() == 2
    assert sorted(Profile.objects.get(pk=ann[0].body["profileId"]).identifiers.values_list(
        "type__key", "value")) == [
        ("customer_id", "C-1"), ("email", "ann@example.com"), ("phone", "+12125550142"),
    ]
    assert transactions_of(Profile) == 1


def test_idempotency_keys_are_claimed_checked_and_remembered_in_the_batch(token):
    api_token = ApiToken.objects.get()
    types = identifier_types()
    stored = {}
    for key, payload in [("order-1", body({"email": "a@example.com"})),
                         ("order-2", body({"email": "b@example.com"}))]:
        stored[key] = resolve_alone(
            parse_write(payload, types=types), token=api_token, key=key,
            body_hash=body_hash(payload), fingerprint=types.fingerprint,
        )

    replay, other_body, first, repeat, plain = in_one_batch(
        (body({"email": "a@example.com"}), "order-1"),
        (body({"email": "c@example.com"}), "order-2"),
        (body({"email": "d@example.com"}), "order-3"),
        (body({"email": "d@example.com"}), "order-3"),
        (body({"email": "e@example.com"}), None),
    )

    assert replay.replayed and (replay.status, replay.body) == (201, stored["order-1"].body)
    assert other_body.refusal == "other_body"
    # The same key twice in one batch: one runs, the other is still in flight (409).
    assert sorted([first.refusal or "", repeat.refusal or ""]) == ["", "in_flight"]
    ran = first if first.refusal is None else repeat
    assert ran.status == 201
    record = IdempotencyRecord.objects.get(key="order-3")
    assert (record.response_status, record.response_body) == (201, ran.body)
    assert plain.status == 201
    assert not Identifier.objects.filter(value="c@example.com").exists()
    assert Identifier.objects.filter(value="d@example.com").count() == 1


@pytest.fixture(params=["check_violation", "raise_exception"])
def poisoned_email(request, db):
    """The database refuses one email: as a constraint would (retried, then busy), or with an
    unexpected error."""
    with connection.cursor() as cursor:
        cursor.execute(f"""
            CREATE FUNCTION refuse_poison() RETURNS trigger AS $$
            BEGIN
                IF NEW.value = 'poison@example.com' THEN
                    RAISE EXCEPTION 'poisoned' USING ERRCODE = '{request.param}';
                END IF;
                RETURN NEW;
            END $$ LANGUAGE plpgsql;
            CREATE TRIGGER refuse_poison BEFORE INSERT ON identity_identifier
                FOR EACH ROW EXECUTE FUNCTION refuse_poison();
        """)
    yield request.param
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER refuse_poison ON identity_identifier; "
                       "DROP FUNCTION refuse_poison()")


def test_a_failing_batch_resolves_each_write_alone_and_only_the_culprit_fails(
    token, poisoned_email
):
    first, poison, last = in_one_batch(
        (body({"email": "first@example.com"}), "k-1"),
        (body({"email": "poison@example.com"}), "k-2"),
        (body({"email": "last@example.com"}), None),
    )

    assert first.status == last.status == 201
    if poisoned_email == "check_violation":
        assert isinstance(poison, ResolutionBusy)
    else:
        assert "poisoned" in str(poison)
    assert sorted(Identifier.objects.values_list("value", flat=True)) == [
        "first@example.com", "last@example.com",
    ]
    assert Profile.objects.count() == 2
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["k-1"]


def test_a_batch_failing_after_its_commit_answers_everyone_with_the_error(
    token, settings, monkeypatch
):
    # A hook run after the commit fails: nothing to redo, everyone hears of it. (A broker that
    # is down is no such failure: the writes' detection waits in the outbox.)
    settings.DETECT_ON_WRITE = True

    def failing_hook():
        raise RuntimeError("a hook after the commit failed")

    monkeypatch.setattr(pending, "wake_drain", failing_hook)

    outcomes = in_one_batch(
        (body({"email": "a@example.com"}), None),
        (body({"email": "b@example.com"}), None),
    )

    assert all(isinstance(outcome, Exception) for outcome in outcomes)
    assert sorted(Identifier.objects.values_list("value", flat=True)) == [
        "a@example.com", "b@example.com",
    ]


@pytest.mark.parametrize("keyed", [False, True])
def test_a_write_whose_token_was_deleted_meanwhile_is_refused_and_the_others_go_in(token, keyed):
    kept = ApiToken.objects.get()
    make_token("deleted")
    deleted = ApiToken.objects.get(name="deleted")
    ApiToken.objects.filter(pk=deleted.pk).delete()  # after its write was accepted

    refused, written = in_one_batch(
        (body({"email": "gone@example.com"}), "k-1" if keyed else None, deleted),
        (body({"email": "kept@example.com"}), None, kept),
    )

    assert isinstance(refused, Stale)
    assert written.status == 201
    assert list(Identifier.objects.values_list("value", flat=True)) == ["kept@example.com"]
    assert not IdempotencyRecord.objects.exists()


def test_writes_parsed_under_types_changed_meanwhile_are_refused_before_anything_is_written(
    token,
):
    parsed_under = identifier_types()
    IdentifierType.objects.create(key="crm_id", label="CRM ID", unique=True, priority=6)

    outcomes = in_one_batch(
        (body({"email": "a@example.com", "crm_id": "A-1"}), None),
        (body({"email": "b@example.com"}), "k-1"),
        types=parsed_under,
    )

    assert all(isinstance(outcome, Stale) for outcome in outcomes)
    assert not Profile.objects.exists() and not IdempotencyRecord.objects.exists()


def test_the_next_batch_waits_for_the_writers_the_last_batch_answered(token):
    # Clients that wait for their answer before writing again come back together, but not at
    # the same instant: the first one back leads, and waits for the others.
    group = GroupCommit(max_batch=8, max_wait=60)
    in_one_batch(*[(body({"email": f"first-{n}@example.com"}), None) for n in range(3)],
                 group=group)
    api_token, types = ApiToken.objects.get(), identifier_types()

    def come_back(n):
        time.sleep(0.2 * n)
        try:
            with group.arrival() as arrival:
                payload = body({"email": f"again-{n}@example.com"})
                return arrival.submit(parse_write(payload, types=types), token=api_token,
                                      fingerprint=types.fingerprint).status
        finally:
            connection.close()

    with ThreadPoolExecutor(3) as pool:
        statuses = list(pool.map(come_back, range(3)))

    assert statuses == [201, 201, 201]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT xmin::text) FROM identity_identifier WHERE value LIKE 'again-%'"
        )
        assert cursor.fetchone()[0] == 1  # one transaction for the three
