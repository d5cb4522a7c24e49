"""A steward merges in real Chromium: from the queue to "succeeded", through a real worker."""

import re

import pytest
from playwright.sync_api import expect

from merges.models import MergeJob
from profiles.models import Profile, ProfileEvent
from tests.factories import identifiers_of
from tests.merges.conftest import events

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=15_000)


def test_a_steward_merges_an_unblocked_pair_from_the_queue_to_succeeded(
    live_server, log_in, steward, console, celery_worker
):
    ken, kenneth = sorted(console.okafors.profiles.values_list("pk", flat=True))
    events(kenneth, 3)
    page = log_in(steward)
    page.goto(f"{live_server.url}/queue/{console.okafors.pk}/")

    page.get_by_role("link", name="Merge…").click()

    expect(page).to_have_url(re.compile(rf"/queue/{console.okafors.pk}/merge/$"))
    expect(page.get_by_role("heading", name="Which profile survives")).to_be_visible()
    expect(page.locator("#merge-form")).to_contain_text(
        f"Profile {kenneth} is chosen because it has the most events"
    )
    expect(page.get_by_text("A merge cannot be undone.")).to_be_visible()
    page.get_by_label(f"profile {ken}", exact=False).check()  # the page follows the choice
    expect(page.locator("#consequences-title + ul")).to_contain_text(
        f"3 events move to profile {ken}"
    )
    page.get_by_role("radio", name="Kenneth", exact=True).check()
    page.get_by_label("Type MERGE to confirm").fill("MERGE")
    page.get_by_role("button", name="Merge", exact=True).click()

    expect(page).to_have_url(re.compile(r"/merges/\d+/$"))
    expect(page.locator("#job-status")).to_contain_text("Succeeded")
    expect(page.locator("#job-status")).to_contain_text(f"Merged into profile {ken}")
    job = MergeJob.objects.get()
    assert (job.survivor_id, job.merged_profile_ids, job.status) == (ken, [kenneth], "succeeded")

    page.goto(f"{live_server.url}/profiles/{kenneth}/")
    expect(page).to_have_url(re.compile(rf"/profiles/{ken}/$"))
    expect(page.locator("h1")).to_contain_text("Kenneth Okafor")
    assert identifiers_of(ken)["customer_id"] == ["C-1004"]
    assert ProfileEvent.objects.filter(profile_id=ken).count() == 3
    assert Profile.objects.get(pk=kenneth).status == "merged"

    # Back in the queue's merged list, the candidate names the merge that closed it.
    page.goto(f"{live_server.url}/queue/?status=merged")
    page.get_by_role("link", name=f"Candidate {console.okafors.pk}").click()
    expect(page.locator(".review-head")).to_contain_text(
        f"merged into profile {ken} by merge job {job.pk}, asked by steward"
    )
    page.get_by_role("link", name=f"merge job {job.pk}").click()
    expect(page).to_have_url(re.compile(rf"/merges/{job.pk}/$"))


def test_a_senior_merges_a_blocked_group_acknowledging_each_reason(
    live_server, log_in, senior, console, celery_worker
):
    page = log_in(senior)
    page.goto(f"{live_server.url}/queue/{console.garcias.pk}/")

    page.locator("#merge-button").click()

    page.get_by_label("Different loyalty cards").fill("one customer, card replaced in March")
    page.get_by_label("Different contacts grant account access").fill("she logs in with both")
    page.get_by_label("Type MERGE to confirm").fill("MERGE")
    page.get_by_role("button", name="Merge anyway").click()

    expect(page.locator("#job-status")).to_contain_text("Succeeded")
    expect(page.get_by_text("one customer, card replaced in March")).to_be_visible()
