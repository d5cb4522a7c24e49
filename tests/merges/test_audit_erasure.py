"""Right to erasure (SPEC 7, 11): `erase_person` removes every trace of the person's personal
data, the chain still verifies, and the erasure itself is audited without personal data."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from identity.candidates.lifecycle import dismiss_candidate
from identity.matching.detect import detect_all
from identity.models import DuplicateCandidate, IdempotencyRecord, Identifier
from identity.writing.edits import edit_identifier
from merges.audit.erasure import erase_person
from merges.models import AuditEntry, AuditPayload, MergeJob
from profiles.models import Profile
from tests.factories import make_token, post_json, text_of, write
from tests.merges.conftest import events, merge

pytestmark = pytest.mark.django_db

# Traces of the person, as any table could hold them: names, emails, the phone however typed.
TRACES = ["%quillon%", "%zebediah%", "%5550187%", "%555-0187%", "%555.0187%", "%555 0187%"]


@pytest.fixture
def person(steward, senior, client):
    """Quillon Zebediah: a profile made online, one made at the till (merged into it), a
    neighbour whose card was typed on the person's purchase (dismissed as not a duplicate), an
    identifier edit and an
    API write with an Idempotency-Key."""
    online = write({"email": " Quillon.Zebediah@Example.com ", "phone": "(646) 555-0187",
                    "first_name": "Quillon", "last_name": "Zebediah", "city": "Boston"},
                   "email", accessContacts=["email"]).profile_id
    till = write({"email": "q.zeb@example.org", "phone": "646.555.0187",
                  "first_name": "Quillon", "last_name": "Zebediah"}, "email").profile_id
    neighbour = write({"email": "ada.neighbour@example.com", "loyalty_card": "LC-9",
                       "first_name": "Ada", "last_name": "Neighbour"}, "email").profile_id
    # The till typed the neighbour's card on the person's purchase: a collision.
    write({"email": "quillon.zebediah@example.com", "loyalty_card": "LC-9"}, "email")
    events(online, 2)
    events(till, 1)
    edit_identifier(identifier=Identifier.objects.get(value="q.zeb@example.org"),
                    raw_value="quillon.z@example.org", grants_access=False,
                    reason="typo at the till", actor=steward)
    merge([online, till], senior, survivor_id=online)
    detect_all()
    pair = DuplicateCandidate.objects.filter(status="open", candidatemember__profile_id=neighbour)
    dismiss_candidate(candidate=pair.get(), reason="neighbours, the till took the wrong card",
                      actor=steward)
    token = make_token()
    response = post_json(client, "/api/v1/profiles/upsert",
                         {"record": {"email": "quillon.zebediah@example.com", "tier": "gold"},
                          "matchKey": "email"}, token, **{"Idempotency-Key": "order-77"})
    assert response.status_code == 200, response.content
    return online, till, neighbour


def traces():
    """(table, column, rows) for every text and JSON column holding a trace of the person."""
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT table_name, column_name FROM information_schema.columns
            WHERE table_schema = 'public'
              AND data_type IN ('text', 'character varying', 'json', 'jsonb', 'ARRAY')
              AND table_name IN (SELECT table_name FROM information_schema.tables
                                 WHERE table_schema = 'public' AND table_type = 'BASE TABLE')
        """)
        columns = cursor.fetchall()
        found = []
        for table, column in columns:
            cursor.execute(
                f'SELECT count(*) FROM "{table}" WHERE "{column}"::text ILIKE ANY(%s)', [TRACES]
            )
            if count := cursor.fetchone()[0]:
                found.append((table, column, count))
    return found


def test_the_person_is_everywhere_before(person):
    tables = {table for table, _, _ in traces()}
    assert {"identity_identifier", "profiles_profile", "merges_auditpayload",
            "identity_profilefeatures"} <= tables


def test_after_erase_person_no_trace_remains_in_any_table_and_the_chain_verifies(person, client,
                                                                                 viewer):
    online, till, neighbour = person
    entries = AuditEntry.objects.count()
    out = io.StringIO()

    call_command("erase_person", str(till), "--reason", "GDPR request 2026-114", stdout=out)

    assert traces() == []
    assert f"Erased the person of profile {online}, profile {till}." in out.getvalue()
    assert not Profile.objects.filter(pk__in=[online, till]).exists()
    assert Profile.objects.filter(pk=neighbour).exists()
    assert Identifier.objects.filter(profile_id=neighbour).count() == 2
    # The API's stored answer about the person (its profile id) went too.
    assert not IdempotencyRecord.objects.exists()
    # The history keeps every entry, and one more: the erasure, with ids and counts only.
    assert AuditEntry.objects.count() == entries + 1
    erasure = AuditEntry.objects.latest("id")
    assert erasure.action == "person.erased"
    assert erasure.actor_label == "command line"
    assert erasure.targets["profiles"] == [online, till]
    assert erasure.payload.data["after"]["reason"] == "GDPR request 2026-114"
    erased = erasure.targets["payloads_erased"]
    assert erased and not AuditPayload.objects.filter(entry_id__in=erased).exists()

    verified = io.StringIO()
    call_command("verify_audit", stdout=verified)
    assert verified.getvalue() == (
        f"OK: {entries + 1:,} audit entries verified, {len(erased):,} payload(s) erased.\n"
    )
    client.force_login(viewer)
    assert "an operator at the command line erased the personal data of this person" in (
        text_of(client.get(f"/profiles/{online}/")))


def test_erasure_is_all_or_nothing_and_needs_a_reason(person):
    online, _, _ = person
    with pytest.raises(CommandError, match="say why"):
        call_command("erase_person", str(online), "--reason", "  ")
    with pytest.raises(CommandError, match="no profile"):
        call_command("erase_person", "999999", "--reason", "ticket 1")
    assert Profile.objects.filter(pk=online).exists()


def test_the_pages_of_what_was_erased_say_who_erased_it_and_when(client, viewer, admin, person):
    online, till, neighbour = person
    job = MergeJob.objects.get()
    dismissed = DuplicateCandidate.objects.get(status="dismissed")

    erasure = erase_person(profile_id=online, reason="GDPR request 2026-114", actor=admin)

    entry = AuditEntry.objects.get(pk=erasure.entry_id)
    assert dismissed.pk in entry.targets["candidates_erased"]
    assert entry.targets["merge_jobs_erased"] == [job.pk]
    client.force_login(viewer)
    # Older entries link to them: each address says what became of it.
    for url, title, whose in (
        (f"/profiles/{till}/", f"Profile {till} was erased", "this person"),
        (f"/queue/{dismissed.pk}/", f"Candidate {dismissed.pk} was erased", "the person it held"),
        (f"/merges/{job.pk}/", f"Merge job {job.pk} was erased", "the person it held"),
    ):
        response = client.get(url)
        page = text_of(response)
        assert response.status_code == 404, url
        assert title in page
        assert (f"admin erased the personal data of {whose} (profile {online}, profile {till}), "
                f"as audit entry {erasure.entry_id} records.") in page
    # The API says so too: a downstream system holding the id learns to erase its copy.
    token = make_token("crm")
    for url, kind, pk in ((f"/api/v1/profiles/{till}", "profile", till),
                          (f"/api/v1/merges/{job.pk}", "merge job", job.pk)):
        response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 404
        assert response.json()["error"] == {
            "code": "erased", "field": None,
            "message": f"{kind} {pk} was erased with its person's data on "
                       f"{timezone.localdate():%Y-%m-%d} (audit entry {erasure.entry_id})",
        }
    never = client.get("/api/v1/profiles/987654321", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert never.status_code == 404 and never.json()["error"]["code"] == "not_found"
    # The neighbour's own pages are still there; a candidate that never was is not found.
    assert client.get(f"/profiles/{neighbour}/").status_code == 200
    missing = client.get("/queue/987654321/")
    assert missing.status_code == 404 and "erased" not in text_of(missing)


def test_the_erasure_feed_lists_each_erased_person_once_in_order_without_personal_data(
    client, admin, person
):
    online, till, neighbour = person
    job = MergeJob.objects.get()
    token = make_token("crm")

    def page(after, limit=1):
        response = client.get(f"/api/v1/erasures?after={after}&limit={limit}",
                              HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 200
        return response.json()

    assert page(0) == {"results": [], "next": "0"}
    first = erase_person(profile_id=till, reason="GDPR request 2026-114", actor=admin)
    second = erase_person(profile_id=neighbour, reason="GDPR request 2026-115", actor=admin)

    one = page(0)
    two = page(one["next"])
    assert [r["erasureId"] for r in one["results"] + two["results"]] == [
        first.entry_id, second.entry_id]
    assert one["results"][0]["profileIds"] == [online, till]
    assert one["results"][0]["mergeIds"] == [job.pk]
    assert two["results"][0]["profileIds"] == [neighbour]
    assert page(two["next"]) == {"results": [], "next": two["next"]}  # caught up
    assert "quillon" not in json.dumps(one).lower() and "GDPR" not in json.dumps(one)
    bad = client.get("/api/v1/erasures?after=-1", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "after"
