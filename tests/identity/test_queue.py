"""The suspected-duplicate queue (/queue/): filters, sorting, paging, claim, bulk dismiss, CSV."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from identity.candidates.lifecycle import claim_candidate
from identity.candidates.selectors import EXPORT_HEADER, candidate_export_rows, candidate_queue
from identity.models import CandidateMember, DuplicateCandidate
from merges.models import AuditEntry
from tests.factories import write
from tests.identity.conftest import candidate_of, detect

pytestmark = pytest.mark.django_db


def phone_pairs(count, *, start=0):
    """`count` pairs of profiles, each pair sharing its own phone (unblocked candidates)."""
    pairs = []
    for n in range(start, start + count):
        phone = f"(212) 555-{1000 + n}"
        pairs.append(tuple(
            write({"email": f"{who}{n}@example.com", "phone": phone, "first_name": who.title(),
                   "last_name": f"Pair{n}"}, "email").profile_id
            for who in ("ann", "bob")
        ))
    return pairs


def listed(response):
    """The candidate ids the queue page shows, in order."""
    rows = response.context["rows"]
    return [row.candidate.pk for row in rows]


def test_the_queue_shows_names_identifiers_evidence_score_and_the_blocked_badge(
    client, viewer, household, ken
):
    detect()
    client.force_login(viewer)

    response = client.get("/queue/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "Maria Garcia" in page and "Carlos Garcia" in page and "Kenneth Okafor" in page
    assert "LC-40017" in page and "+12125550142" in page
    assert "Shared phone" in page
    assert "Blocked" in page and "Different unique IDs" in page
    assert "Not blocked" in page
    household_row = next(row for row in response.context["rows"] if row.reasons)
    assert household_row.codes == ["unique_id_conflict", "access_contact_mismatch"]


def test_the_queue_shows_open_candidates_unless_another_status_is_asked_for(
    client, steward, household, ken
):
    detect()
    garcias = candidate_of(*household)
    okafors = candidate_of(*ken)
    client.force_login(steward)
    client.post(f"/queue/{okafors.pk}/dismiss/", {"reason": "father and son"})

    assert listed(client.get("/queue/")) == [garcias.pk]
    assert listed(client.get("/queue/?status=dismissed")) == [okafors.pk]
    assert listed(client.get("/queue/?status=anything")) == [garcias.pk]


def test_blocked_and_blocking_reason_filters(client, viewer, household, ken):
    detect()
    garcias, okafors = candidate_of(*household), candidate_of(*ken)
    client.force_login(viewer)

    assert listed(client.get("/queue/?blocked=yes")) == [garcias.pk]
    assert listed(client.get("/queue/?blocked=no")) == [okafors.pk]
    assert listed(client.get("/queue/?reason=unique_id_conflict")) == [garcias.pk]
    assert listed(client.get("/queue/?reason=merge_in_progress")) == []


def test_evidence_and_identifier_type_filters(client, viewer, household, smithsons):
    write({"email": "lin@example.com", "customer_id": "C-1005"}, "email")
    ola = write({"email": "ola@example.com"}, "email").profile_id
    write({"email": "ola@example.com", "customer_id": "C-1005"}, "email")
    detect()
    garcias, similar = candidate_of(*household), candidate_of(*smithsons)
    collision = DuplicateCandidate.objects.get(candidatemember__profile_id=ola)
    client.force_login(viewer)

    assert listed(client.get("/queue/?evidence=similar_people")) == [similar.pk]
    assert listed(client.get("/queue/?evidence=collision")) == [collision.pk]
    assert listed(client.get("/queue/?type=phone")) == [garcias.pk]
    assert listed(client.get("/queue/?type=customer_id")) == [collision.pk]


def test_score_range_filter(client, viewer, household, smithsons):
    detect()
    garcias, similar = candidate_of(*household), candidate_of(*smithsons)
    client.force_login(viewer)

    assert listed(client.get(f"/queue/?score_min={similar.score}")) == [similar.pk]
    assert listed(client.get(f"/queue/?score_max={garcias.score}")) == [garcias.pk]
    assert listed(client.get("/queue/?score_min=1000")) == []


def test_assignee_filter_mine_and_unassigned(client, steward, senior, household, ken):
    detect()
    garcias, okafors = candidate_of(*household), candidate_of(*ken)
    claim_candidate(candidate=garcias, actor=steward)
    client.force_login(steward)

    assert listed(client.get("/queue/?assignee=mine")) == [garcias.pk]
    assert listed(client.get("/queue/?assignee=unassigned")) == [okafors.pk]
    client.force_login(senior)
    assert listed(client.get("/queue/?assignee=mine")) == []


def test_age_filter(client, viewer, household, ken):
    detect()
    garcias, okafors = candidate_of(*household), candidate_of(*ken)
    DuplicateCandidate.objects.filter(pk=garcias.pk).update(
        created_at=timezone.now() - timedelta(days=10)
    )
    client.force_login(viewer)

    assert listed(client.get("/queue/?age=week_plus")) == [garcias.pk]
    assert listed(client.get("/queue/?age=day")) == [okafors.pk]
    assert listed(client.get("/queue/?age=month_plus")) == []


def test_sorting_by_score_and_by_age(client, viewer, household, smithsons, ken):
    detect()
    garcias, similar, okafors = (candidate_of(*household), candidate_of(*smithsons),
                                 candidate_of(*ken))
    now = timezone.now()
    for days, candidate in enumerate([okafors, garcias, similar]):
        DuplicateCandidate.objects.filter(pk=candidate.pk).update(
            created_at=now - timedelta(days=days)
        )
    client.force_login(viewer)

    by_score = listed(client.get("/queue/?sort=score"))
    assert [DuplicateCandidate.objects.get(pk=pk).score for pk in by_score] == sorted(
        [garcias.score, similar.score, okafors.score], reverse=True
    )
    assert listed(client.get("/queue/?sort=score_asc")) == by_score[::-1]
    assert listed(client.get("/queue/")) == [okafors.pk, garcias.pk, similar.pk]
    assert listed(client.get("/queue/?sort=oldest")) == [similar.pk, garcias.pk, okafors.pk]


def test_paging_forward_and_back_visits_every_candidate_once_without_counting(client, viewer):
    phone_pairs(30)
    detect()
    expected = list(
        DuplicateCandidate.objects.order_by("-score", "-id").values_list("pk", flat=True)
    )
    client.force_login(viewer)

    with CaptureQueriesContext(connection) as queries:
        first = client.get("/queue/?sort=score&size=25")
    second = client.get(f"/queue/?sort=score&size=25&after={first.context['page'].next_cursor}")
    back = client.get(
        f"/queue/?sort=score&size=25&before={second.context['page'].previous_cursor}"
    )

    assert listed(first) + listed(second) == expected
    assert second.context["page"].next_cursor is None
    assert listed(back) == listed(first)
    assert back.context["page"].previous_cursor is None
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]


def test_a_cursor_that_does_not_parse_shows_the_first_page(client, viewer, household, ken):
    detect()
    client.force_login(viewer)
    first = listed(client.get("/queue/"))

    assert listed(client.get("/queue/?after=yesterday~x")) == first
    assert listed(client.get("/queue/?before=nonsense")) == first


def test_paging_links_keep_the_filters(client, viewer):
    phone_pairs(27)
    detect()
    client.force_login(viewer)

    page = client.get("/queue/?blocked=no&size=25").content.decode()

    assert 'rel="next"' in page
    next_link = page.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
    assert "blocked=no" in next_link and "size=25" in next_link and "after=" in next_link


def test_column_headers_sort_and_keep_the_filters(client, viewer, household, ken):
    detect()
    client.force_login(viewer)

    page = client.get("/queue/?blocked=no&evidence=shared_value&after=x~1").content.decode()

    links = {
        text: href for href, text in re.findall(r'<a href="([^"]*)"[^>]*>(Score|Age)[^<]*</a>',
                                                page)
    }
    assert links["Score"] == "?blocked=no&amp;evidence=shared_value&amp;sort=score"
    assert links["Age"] == "?blocked=no&amp;evidence=shared_value&amp;sort=oldest"
    assert "??" not in page
    sorted_page = client.get("/queue/" + links["Score"].replace("&amp;", "&"))
    assert sorted_page.context["filterset"].sort_key == "score"
    assert sorted_page.context["filterset"].data["blocked"] == "no"


def test_an_htmx_filter_change_gets_only_the_results_and_the_form_pushes_the_url(
    client, viewer, household
):
    detect()
    client.force_login(viewer)

    full = client.get("/queue/").content.decode()
    partial = client.get("/queue/?blocked=yes", headers={"HX-Request": "true"}).content.decode()

    assert 'hx-push-url="true"' in full
    assert 'method="get" action="/queue/"' in full
    assert "<html" not in partial and "<table" in partial
    assert "Maria Garcia" in partial


def test_going_back_in_history_gets_the_whole_page(client, viewer, household):
    detect()
    client.force_login(viewer)

    response = client.get("/queue/?blocked=yes", headers={
        "HX-Request": "true", "HX-History-Restore-Request": "true",
    })

    assert "<html" in response.content.decode()


def test_the_queue_page_takes_the_same_queries_for_1_and_50_rows(
    client, viewer, django_assert_num_queries
):
    phone_pairs(1)
    detect()
    client.force_login(viewer)

    with django_assert_num_queries(16):
        one = client.get("/queue/?size=50")
    phone_pairs(49, start=1)
    detect()
    with django_assert_num_queries(16):
        fifty = client.get("/queue/?size=50")

    assert len(listed(one)) == 1 and len(listed(fifty)) == 50


def test_a_steward_claims_and_unclaims_a_candidate(client, steward, household):
    detect()
    garcias = candidate_of(*household)
    client.force_login(steward)

    response = client.post(f"/queue/{garcias.pk}/claim/", {"next": "/queue/?blocked=yes"})

    assert response.status_code == 302 and response.url == "/queue/?blocked=yes"
    garcias.refresh_from_db()
    assert garcias.assignee == steward
    assert AuditEntry.objects.filter(action="candidate.claimed", actor=steward).count() == 1

    client.post(f"/queue/{garcias.pk}/unclaim/")

    garcias.refresh_from_db()
    assert garcias.assignee is None
    assert AuditEntry.objects.filter(action="candidate.unclaimed").count() == 1


def test_claiming_from_a_queue_row_with_htmx_returns_the_row(client, steward, household):
    detect()
    garcias = candidate_of(*household)
    client.force_login(steward)

    response = client.post(
        f"/queue/{garcias.pk}/claim/", {"next": "/queue/?blocked=yes&after=x"},
        headers={"HX-Request": "true"},
    )

    row = response.content.decode()
    assert row.strip().startswith("<tr")
    assert "steward" in row and "Unclaim" in row
    assert f'href="/queue/{garcias.pk}/?blocked=yes' in row


def test_a_candidate_claimed_by_someone_else_is_not_taken_over(client, steward, senior,
                                                               household):
    detect()
    garcias = candidate_of(*household)
    claim_candidate(candidate=garcias, actor=senior)
    client.force_login(steward)

    response = client.post(f"/queue/{garcias.pk}/claim/", follow=True)

    garcias.refresh_from_db()
    assert garcias.assignee == senior
    assert "claimed by senior" in response.content.decode()
    client.post(f"/queue/{garcias.pk}/unclaim/")
    garcias.refresh_from_db()
    assert garcias.assignee == senior


def test_a_viewer_may_not_claim(client, viewer, household):
    detect()
    garcias = candidate_of(*household)
    client.force_login(viewer)

    response = client.post(f"/queue/{garcias.pk}/claim/")

    assert response.status_code == 403
    assert "identity.claim_candidate" in response.content.decode()
    garcias.refresh_from_db()
    assert garcias.assignee is None
    assert not AuditEntry.objects.exists()


def test_a_steward_dismisses_several_candidates_with_one_reason(client, steward, household, ken):
    detect()
    garcias, okafors = candidate_of(*household), candidate_of(*ken)
    client.force_login(steward)

    response = client.post("/queue/dismiss/", {
        "candidate": [garcias.pk, okafors.pk], "reason": "different people",
        "next": "/queue/?sort=score",
    })

    assert response.status_code == 302 and response.url == "/queue/?sort=score"
    for candidate in (garcias, okafors):
        candidate.refresh_from_db()
        assert candidate.status == DuplicateCandidate.Status.DISMISSED
        assert candidate.dismiss_reason == "different people"
        assert candidate.dismissed_by == steward
    assert AuditEntry.objects.filter(action="candidate.dismissed").count() == 2
    assert listed(client.get("/queue/")) == []


def test_bulk_dismiss_without_a_reason_dismisses_nothing(client, steward, household):
    detect()
    garcias = candidate_of(*household)
    client.force_login(steward)

    response = client.post("/queue/dismiss/", {"candidate": [garcias.pk], "reason": " "},
                           follow=True)

    garcias.refresh_from_db()
    assert garcias.status == DuplicateCandidate.Status.OPEN
    assert "say why these are different people" in response.content.decode()
    assert not AuditEntry.objects.exists()


def test_bulk_dismiss_skips_what_is_no_longer_open(client, steward, household, ken):
    detect()
    garcias, okafors = candidate_of(*household), candidate_of(*ken)
    DuplicateCandidate.objects.filter(pk=okafors.pk).update(status="superseded")
    client.force_login(steward)

    response = client.post("/queue/dismiss/", {
        "candidate": [garcias.pk, okafors.pk], "reason": "different people",
    }, follow=True)

    assert "1 suspected duplicate(s) dismissed" in response.content.decode()
    assert "1 skipped" in response.content.decode()
    okafors.refresh_from_db()
    assert okafors.status == "superseded"


def test_a_viewer_may_not_bulk_dismiss(client, viewer, household):
    detect()
    garcias = candidate_of(*household)
    client.force_login(viewer)

    response = client.post("/queue/dismiss/", {"candidate": [garcias.pk], "reason": "no"})

    assert response.status_code == 403
    assert "identity.dismiss_candidate" in response.content.decode()
    garcias.refresh_from_db()
    assert garcias.status == DuplicateCandidate.Status.OPEN


def test_dismissing_a_pair_blocks_the_larger_open_group_holding_it(client, steward, household):
    detect()
    maria, carlos = household
    cousin = write({"email": "ines@example.com"}, "email").profile_id
    larger = DuplicateCandidate.objects.create(evidence=[{"rule": "shared_value"}])
    CandidateMember.objects.bulk_create(
        CandidateMember(candidate=larger, profile_id=pk) for pk in (maria, carlos, cousin)
    )
    client.force_login(steward)

    client.post("/queue/dismiss/", {"candidate": [candidate_of(maria, carlos).pk],
                                    "reason": "a couple"})

    larger.refresh_from_db()
    assert "previously_dismissed" in larger.blocking_codes
    assert listed(client.get("/queue/?reason=previously_dismissed")) == [larger.pk]


def test_a_viewer_sees_no_action_buttons_on_the_queue(client, viewer, household):
    detect()
    client.force_login(viewer)

    page = client.get("/queue/").content.decode()

    assert "/claim/" not in page and ">Claim</button>" not in page
    assert "Dismiss selected" not in page
    assert "bulk-dismiss" not in page
    assert 'name="candidate"' not in page


def test_a_steward_sees_claim_and_bulk_dismiss(client, steward, household):
    detect()
    client.force_login(steward)

    page = client.get("/queue/").content.decode()

    assert f"/queue/{candidate_of(*household).pk}/claim/" in page
    assert 'id="bulk-dismiss"' in page and 'form="bulk-dismiss"' in page


def test_the_csv_export_holds_the_filtered_queue(client, viewer, household, ken):
    detect()
    garcias = candidate_of(*household)
    client.force_login(viewer)

    response = client.get("/queue/export.csv?blocked=yes")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][0] == "candidate"
    assert len(rows) == 2
    assert rows[1][0] == str(garcias.pk)
    assert rows[1][6] == "Maria Garcia; Carlos Garcia"
    assert rows[1][8] == "unique_id_conflict access_contact_mismatch"


def test_the_export_reads_the_queue_a_chunk_at_a_time():
    phone_pairs(5)
    detect()

    rows = list(candidate_export_rows(candidate_queue(), sort="newest", chunk=2))

    assert rows[0] == EXPORT_HEADER
    assert [row[0] for row in rows[1:]] == list(
        DuplicateCandidate.objects.order_by("-created_at", "-id").values_list("pk", flat=True)
    )


def test_the_csv_export_defuses_spreadsheet_formulas(client, viewer):
    for email in ("x1@example.com", "x2@example.com"):
        write({"email": email, "phone": "(212) 555-0177", "first_name": "=HYPERLINK(1)"},
              "email")
    detect()
    client.force_login(viewer)

    body = b"".join(client.get("/queue/export.csv").streaming_content).decode()

    assert "'=HYPERLINK(1)" in body
    assert "+12125550177" in body and "'+12125550177" not in body


def test_the_how_suggestions_are_made_panel_shows_the_detection_configuration(client, viewer):
    client.force_login(viewer)

    page = client.get("/queue/").content.decode()

    assert "How suggestions are made" in page
    assert "same date of birth and first name" in page
