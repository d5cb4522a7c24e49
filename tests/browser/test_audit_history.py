"""A viewer answers "who did this, when, and why?" in real Chromium (SPEC 7)."""

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from identity.candidates.lifecycle import claim_candidate, dismiss_candidate
from identity.models import DuplicateCandidate, Identifier
from identity.writing.edits import edit_identifier

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=10_000)


@pytest.fixture
def history(steward, senior, household, ken):
    maria, carlos = household
    online, till = ken
    candidate = DuplicateCandidate.objects.create()
    candidate.profiles.set([online, till])
    claim_candidate(candidate=candidate, actor=steward)
    dismiss_candidate(candidate=candidate, reason="father and son", actor=steward)
    email = Identifier.objects.get(profile_id=maria, type__key="email")
    edit_identifier(identifier=email, raw_value="maria.g@example.org", grants_access=True,
                    reason="she wrote to us", actor=senior)
    return {"maria": maria, "till": till, "candidate": candidate}


def entry_ids(page):
    return [int(pk) for pk in page.locator("table.audit tbody tr").evaluate_all(
        "rows => rows.map(row => row.dataset.entry)")]


def test_a_viewer_filters_opens_an_entry_and_exports_the_same_rows(
    live_server, log_in, viewer, steward, history
):
    page = log_in(viewer)
    page.get_by_role("link", name="Audit").click()
    page.wait_for_url(re.compile(r"/audit/$"))
    expect(page.locator("table.audit tbody tr")).to_have_count(3)

    page.get_by_label("Actor").select_option(label="steward")

    expect(page).to_have_url(re.compile(rf"/audit/\?.*actor={steward.pk}"))
    rows = page.locator("table.audit tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Candidate dismissed")
    expect(rows.nth(1)).to_contain_text("Candidate claimed")

    page.get_by_role("link", name="Reset").click()
    page.get_by_label("Identifier value").fill(" Maria.G@Example.org ")
    page.get_by_label("Identifier value").press("Enter")

    expect(page).to_have_url(re.compile(r"identifier=(%20|\+)Maria"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Identifier edited")
    expect(rows.first).to_contain_text("senior")

    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    exported = list(csv.reader(io.StringIO(open(download.value.path()).read())))
    assert [int(line[0]) for line in exported[1:]] == entry_ids(page)

    rows.first.get_by_role("link", name="Identifier edited").click()

    expect(page.locator("h1")).to_contain_text("Identifier edited")
    changed = page.locator("#diff tr.changed")
    expect(changed).to_have_count(3)
    expect(changed.first).to_contain_text("maria.garcia@example.com")
    expect(changed.first).to_contain_text("maria.g@example.org")
    expect(page.locator("#diff")).to_contain_text("she wrote to us")
    page.get_by_role("link", name="← Audit history").click()
    expect(page).to_have_url(re.compile(r"/audit/\?.*identifier=(%20|\+)Maria"))


def test_the_profile_page_shows_its_timeline(live_server, log_in, viewer, history):
    page = log_in(viewer)
    page.goto(f"{live_server.url}/profiles/{history['till']}/")

    timeline = page.locator("#timeline")
    expect(timeline.locator("tbody tr")).to_have_count(2)
    expect(timeline).to_contain_text("Candidate dismissed")
    expect(timeline).to_contain_text(f"candidate {history['candidate'].pk}")

    timeline.get_by_role("link", name="The whole history of this profile").click()
    expect(page).to_have_url(re.compile(rf"/audit/\?profile={history['till']}$"))
    expect(page.locator("table.audit tbody tr")).to_have_count(2)
