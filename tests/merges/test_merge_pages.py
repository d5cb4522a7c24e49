"""The merge pages (SPEC 8): confirmation, the job's live status, the job list; each on both
sides of its role boundary."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from merges.models import MergeJob
from merges.services import execute_merge
from tests.factories import make_token, text_of, write
from tests.identity.conftest import candidate_of, detect
from tests.merges.conftest import merge

pytestmark = pytest.mark.django_db


@pytest.fixture
def okafors_candidate(ken):
    detect()
    return candidate_of(*ken)


def test_a_viewer_may_not_open_the_confirmation_page(client, viewer, okafors_candidate):
    client.force_login(viewer)

    response = client.get(f"/queue/{okafors_candidate.pk}/merge/")

    assert response.status_code == 403
    assert "merges.add_mergejob" in response.content.decode()


def test_the_confirmation_page_names_the_survivor_rule_and_the_consequences(
    client, steward, okafors_candidate, ken
):
    client.force_login(steward)

    response = client.get(f"/queue/{okafors_candidate.pk}/merge/")

    page = response.content.decode()
    assert response.status_code == 200
    assert f"Profile {ken[0]} is chosen because it is the oldest profile" in page
    assert "A merge cannot be undone." in page
    assert "1 suspected duplicate closes as merged" in " ".join(
        page.replace("<strong>", "").replace("</strong>", "").split()
    )
    assert 'name="field_first_name"' in page  # Ken and Kenneth differ


def test_a_merge_is_confirmed_only_by_typing_the_word(client, steward, okafors_candidate):
    client.force_login(steward)

    response = client.post(f"/queue/{okafors_candidate.pk}/merge/", {"confirmation": "yes"})

    assert response.status_code == 400
    assert "Type MERGE to confirm the merge." in response.content.decode()
    assert not MergeJob.objects.exists()


def test_a_confirmed_merge_queues_a_job_and_shows_its_page(client, steward, okafors_candidate,
                                                           ken):
    client.force_login(steward)

    response = client.post(f"/queue/{okafors_candidate.pk}/merge/",
                           {"confirmation": "MERGE", "survivor": ken[1],
                            "field_first_name": ken[0]})

    job = MergeJob.objects.get()
    assert response.status_code == 302 and response.url == f"/merges/{job.pk}/"
    assert (job.survivor_id, job.candidate_id, job.status) == (ken[1], okafors_candidate.pk,
                                                                "queued")
    assert job.field_choices == {"first_name": ken[0]}
    assert job.survivor_rule == "it was chosen by the steward"


def test_a_steward_sees_a_blocked_group_without_a_form_and_cannot_post_it(
    client, steward, household
):
    detect()
    garcias = candidate_of(*household)
    client.force_login(steward)

    page = client.get(f"/queue/{garcias.pk}/merge/").content.decode()
    posted = client.post(f"/queue/{garcias.pk}/merge/", {"confirmation": "MERGE"})

    assert "This merge is blocked" in page and 'id="merge-form"' not in page
    assert posted.status_code == 403
    assert "merges.override_blocking_reason" in posted.content.decode()
    assert not MergeJob.objects.exists()


def test_a_senior_must_justify_each_reason_on_the_page(client, senior, household):
    detect()
    garcias = candidate_of(*household)
    client.force_login(senior)

    response = client.post(f"/queue/{garcias.pk}/merge/", {
        "confirmation": "MERGE", "justify_unique_id_conflict": "card replaced",
    })

    assert response.status_code == 400
    assert "Different contacts grant account access" in response.content.decode()
    assert not MergeJob.objects.exists()


def test_the_job_status_partial_stops_polling_when_the_job_ends(client, viewer, steward, ken):
    job = merge(list(ken), steward)
    client.force_login(viewer)

    response = client.get(f"/merges/{job.pk}/", headers={"HX-Request": "true"})

    assert response.status_code == 286
    assert "Succeeded" in response.content.decode()


def test_a_queued_job_keeps_polling(client, viewer, steward, ken):
    client.force_login(steward)
    client.post(f"/merges/new/?profiles={ken[0]},{ken[1]}", {"confirmation": "MERGE"})
    client.force_login(viewer)
    job = MergeJob.objects.get()

    response = client.get(f"/merges/{job.pk}/", headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert 'hx-trigger="every 1s"' in response.content.decode()
    execute_merge(job.pk)


def test_any_group_picked_on_a_profile_page_can_be_merged(client, steward, ken):
    client.force_login(steward)

    page = client.get(f"/profiles/{ken[0]}/").content.decode()
    confirm = client.get(f"/merges/new/?profiles={ken[0]}, {ken[1]}")

    assert 'action="/merges/new/"' in page
    assert confirm.status_code == 200 and "Merge 2 profiles" in confirm.content.decode()


@pytest.mark.parametrize("asked_by", ["steward", None])
def test_a_merged_candidates_page_names_the_merge_who_asked_and_when(client, viewer, steward,
                                                                      okafors_candidate,
                                                                      asked_by):
    online, till = okafors_candidate.profiles.order_by("pk").values_list("pk", flat=True)
    # Merged from a profile page (or by the system), not from the candidate: it closes it too.
    job = merge([online, till], steward if asked_by else None, survivor_id=online)
    client.force_login(viewer)

    page = text_of(client.get(f"/queue/{okafors_candidate.pk}/?status=merged"))

    okafors_candidate.refresh_from_db()
    assert okafors_candidate.status == "merged"
    assert (f"1 profile · score {okafors_candidate.score:.1f}") in page
    who = f"by merge job {job.pk}, asked by steward" if asked_by else (
        f"automatically by merge job {job.pk}")
    assert (f"merged into profile {online} {who} on "
            f"{timezone.localtime(okafors_candidate.closed_at):%Y-%m-%d %H:%M}") in page
    assert "Nothing to draw: its profiles are one profile now." in page
    # The candidates API names the merge too.
    merged = client.get("/api/v1/candidates?status=merged",
                        HTTP_AUTHORIZATION=f"Bearer {make_token()}").json()["results"]
    assert [(c["id"], c["mergeId"]) for c in merged] == [(okafors_candidate.pk, job.pk)]


def test_the_job_list_filters_by_status_and_profile(client, viewer, steward, ken, household):
    done = merge(list(ken), steward)
    client.force_login(viewer)

    by_status = client.get("/merges/?status=succeeded").context["page"].jobs
    by_profile = client.get(f"/merges/?profile={ken[1]}").context["page"].jobs
    by_other = client.get(f"/merges/?profile={household[0]}").context["page"].jobs

    assert [job.pk for job in by_status] == [done.pk]
    assert [job.pk for job in by_profile] == [done.pk]
    assert by_other == []


@pytest.mark.parametrize("count", [1, 50])
def test_the_job_list_takes_the_same_queries_for_1_and_50_jobs(client, viewer, steward,
                                                               count):
    ids = [write({"email": f"j{n}@example.com"}, "email").profile_id for n in range(count + 1)]
    for pk in ids[1:]:
        MergeJob.objects.create(survivor_id=ids[0], merged_profile_ids=[pk],
                                requested_by=steward)
    client.force_login(viewer)

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/merges/")

    assert len(response.context["page"].jobs) == count
    assert len(queries) == 9  # the same for any page size: no query per job


def test_the_job_page_links_its_audit_entries_with_the_snapshots(client, viewer, steward, ken):
    job = merge(list(ken), steward)
    client.force_login(viewer)

    page = client.get(f"/merges/{job.pk}/").content.decode()

    assert "Merge requested" in page and "Merge succeeded" in page
    assert len(re.findall(r'href="/audit/\d+/"', page)) == 2
