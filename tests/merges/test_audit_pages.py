"""/audit/ (SPEC 7, 8): viewers browse, filter, open an entry's diff and export it; nobody
changes it. A fixed number of queries whatever the page size."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from identity.candidates.lifecycle import claim_candidate, dismiss_candidate
from identity.models import DuplicateCandidate, Identifier
from identity.writing.edits import edit_identifier, remove_identifier
from merges import roles
from merges.audit import record
from merges.audit.erasure import erase_person
from merges.models import AuditEntry
from tests.conftest import make_user
from tests.factories import text_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(steward, senior, household, ken):
    """A few stewards' actions on the Garcias and on Ken Okafor."""
    maria, carlos = household
    online, till = ken
    candidate = DuplicateCandidate.objects.create()
    candidate.profiles.set([online, till])
    claim_candidate(candidate=candidate, actor=steward)
    dismiss_candidate(candidate=candidate, reason="father and son", actor=steward)
    email = Identifier.objects.get(profile_id=maria, type__key="email")
    edit_identifier(identifier=email, raw_value="Maria.Garcia@Example.org", grants_access=True,
                    reason="she wrote to us", actor=senior)
    remove_identifier(identifier=Identifier.objects.get(profile_id=carlos, type__key="phone"),
                      reason="the shop's phone", actor=steward)
    return {"maria": maria, "carlos": carlos, "online": online, "till": till,
            "candidate": candidate}


def rows(response):
    return re.findall(r'<tr id="entry-(\d+)"', response.content.decode())


def test_the_list_shows_labels_newest_first(client, viewer, history):
    client.force_login(viewer)

    response = client.get("/audit/")

    assert response.status_code == 200
    page = response.content.decode()
    assert [int(pk) for pk in rows(response)] == list(
        AuditEntry.objects.order_by("-id").values_list("pk", flat=True))
    assert "Candidate dismissed" in page and "Identifier edited" in page
    assert f"candidate <a href=\"/queue/{history['candidate'].pk}/\">" in page


@pytest.mark.parametrize("query, actions", [
    ("action=candidate.dismissed", ["candidate.dismissed"]),
    ("actor={senior}", ["identifier.edited"]),
    ("actor=system", []),
    ("profile={maria}", ["identifier.edited"]),
    ("profile={till}", ["candidate.dismissed", "candidate.claimed"]),
    # Normalised as searches are: the profile holding the value, and its history.
    ("identifier=%20MARIA.garcia@example.ORG%20", ["identifier.edited"]),
    ("identifier=(646) 555-0199", ["candidate.dismissed", "candidate.claimed"]),
    ("since={today}&until={today}", ["identifier.removed", "identifier.edited",
                                     "candidate.dismissed", "candidate.claimed"]),
    ("until={yesterday}", []),
])
def test_filters(client, viewer, senior, history, query, actions):
    client.force_login(viewer)
    today = timezone.localdate()
    query = query.format(senior=senior.pk, today=today, yesterday=today - timedelta(days=1),
                         **{k: getattr(v, "pk", v) for k, v in history.items()})

    response = client.get(f"/audit/?{query}")

    shown = AuditEntry.objects.filter(pk__in=rows(response)).order_by("-id")
    assert list(shown.values_list("action", flat=True)) == actions


def test_keyset_pages_and_a_fixed_number_of_queries(client, viewer, history):
    for n in range(120):
        record(actor=None, action="candidate.claimed", targets={"candidate": n})
    client.force_login(viewer)
    client.get("/audit/")  # sessions, permissions: warm

    counts = {}
    for size in (25, 100):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/audit/?size={size}&action=candidate.claimed")
        assert len(rows(response)) == size
        counts[size] = len(queries)
    assert counts[25] == counts[100]
    with CaptureQueriesContext(connection) as filtered:
        client.get(f"/audit/?size=25&profile={history['till']}&since=2020-01-01")
    assert len(filtered) == counts[25] + 1  # the profile's merged profiles

    first_page = client.get("/audit/?size=50&action=candidate.claimed")
    first = rows(first_page)
    assert f'href="?size=50&amp;action=candidate.claimed&amp;before={first[-1]}"' in (
        first_page.content.decode()
    )  # the pager keeps the filters, with one "?"
    first = rows(client.get("/audit/?size=50"))
    older = client.get(f"/audit/?size=50&before={first[-1]}")
    second = rows(older)
    assert int(second[0]) == int(first[-1]) - 1
    newer = rows(client.get(f"/audit/?size=50&after={second[0]}"))
    assert newer == first


def test_an_entry_shows_a_readable_diff_with_the_changes_marked(client, viewer, history):
    client.force_login(viewer)
    entry = AuditEntry.objects.get(action="identifier.edited")

    page = client.get(f"/audit/{entry.pk}/").content.decode()

    assert "Identifier edited" in page
    assert "by <strong class=\"who\">senior</strong>" in page
    changed = re.findall(r'<tr class="changed">\s*<th scope="row">([^<]+?) ?<', page)
    assert changed == ["value", "raw value", "reason"]
    assert "maria.garcia@example.org" in page and "Maria.Garcia@Example.org" in page
    assert "{" not in page.split('id="diff"')[1].split("</table>")[0]  # no JSON dumps


def test_the_csv_export_holds_the_filtered_rows(client, viewer, history):
    client.force_login(viewer)

    response = client.get(f"/audit/export.csv?profile={history['till']}")

    assert response["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert lines[0] == ["entry", "time", "actor", "action", "action code", "objects", "changes"]
    assert [line[3] for line in lines[1:]] == ["Candidate dismissed", "Candidate claimed"]
    assert "reason: — → father and son" in lines[1][6]


def test_the_csv_export_defuses_spreadsheet_formulas(client, viewer, ken):
    online, till = ken
    candidate = DuplicateCandidate.objects.create()
    candidate.profiles.set([online, till])
    claim_candidate(candidate=candidate, actor=make_user("@SUM(1)", roles.STEWARD))
    client.force_login(viewer)

    response = client.get("/audit/export.csv")

    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [line[2] for line in lines[1:]] == ["'@SUM(1)"]


def test_viewers_read_and_nobody_else_even_reads(client, nobody, viewer, history):
    client.force_login(nobody)
    entry = AuditEntry.objects.first()
    for url in ("/audit/", f"/audit/{entry.pk}/", "/audit/export.csv"):
        response = client.get(url)
        assert response.status_code == 403
        assert "merges.view_auditentry" in response.content.decode()
    client.force_login(viewer)
    assert client.get(f"/audit/{entry.pk}/").status_code == 200


def test_nobody_changes_the_history_through_the_pages(client, admin, history):
    client.force_login(admin)
    entry = AuditEntry.objects.first()
    for url in ("/audit/", f"/audit/{entry.pk}/", "/audit/export.csv"):
        assert client.post(url).status_code == 405
    assert client.get(f"/admin/merges/auditentry/{entry.pk}/delete/").status_code == 403
    assert client.get(f"/admin/merges/auditentry/{entry.pk}/change/").status_code == 200
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_the_profile_page_shows_its_timeline_with_merged_profiles(client, viewer, history):
    client.force_login(viewer)

    page = client.get(f"/profiles/{history['till']}/").content.decode()

    timeline = page.split('id="timeline"')[1]
    assert timeline.count("<tr id=\"timeline-") == 2
    assert "Candidate dismissed" in timeline and "Candidate claimed" in timeline


def test_only_admins_see_and_use_the_erase_button(client, viewer, steward, admin, history):
    url = f"/profiles/{history['carlos']}/erase/"
    for user in (viewer, steward):
        client.force_login(user)
        assert "erase-person" not in client.get(f"/profiles/{history['carlos']}/").content.decode()
        assert client.get(url).status_code == 403
        assert client.post(url, {"reason": "x", "confirmation": "ERASE"}).status_code == 403
    client.force_login(admin)
    assert "erase-person" in client.get(f"/profiles/{history['carlos']}/").content.decode()

    refused = client.post(url, {"reason": "ticket 9", "confirmation": "erase"})
    assert refused.status_code == 400
    assert "Type ERASE to erase this person." in refused.content.decode()

    done = client.post(url, {"reason": "ticket 9", "confirmation": "ERASE"})
    erasure = AuditEntry.objects.latest("id")
    assert done.status_code == 302 and done["Location"] == f"/audit/{erasure.pk}/"
    assert (erasure.action, erasure.actor_id) == ("person.erased", admin.pk)


def test_an_erased_profiles_page_says_it_was_erased_when_and_by_whom(client, viewer, admin,
                                                                      history):
    carlos = history["carlos"]
    erasure = erase_person(profile_id=carlos, reason="ticket 9", actor=admin)
    client.force_login(viewer)

    # An older entry's link to the profile lands on a page that says what became of it.
    response = client.get(f"/profiles/{carlos}/")

    assert response.status_code == 404
    page = text_of(response)
    assert f"Profile {carlos} was erased" in page
    assert (f"On {timezone.localdate():%Y-%m-%d}, {admin.username} erased the personal data "
            f"of this person (profile {carlos}), as audit entry "
            f"{erasure.entry_id} records.") in page
    assert f'href="/audit/{erasure.entry_id}/"' in response.content.decode()
    assert "ticket 9" not in page  # the reason stays in the audit entry, for auditors
    # A profile that never was is not found, as before.
    missing = client.get("/profiles/987654321/")
    assert missing.status_code == 404 and "was erased" not in text_of(missing)
