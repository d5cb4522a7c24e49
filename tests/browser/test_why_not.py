""""Why not?" and the queue's mends in real Chromium: compare two profiles from a profile page
and from a review page, sort the queue by its headers, and work a long queue by keyboard."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from identity.models import DuplicateCandidate
from tests.browser.conftest import _candidate_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=10_000)
SHOTS = Path(__file__).resolve().parents[2] / ".var" / "screenshots"


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


def test_a_steward_asks_why_two_namesakes_are_not_suggested(
    live_server, log_in, steward, namesakes
):
    boston, denver = namesakes
    page = log_in(steward)
    page.goto(f"{live_server.url}/profiles/{boston}/")

    page.get_by_label("Compare with…").fill("j.smithson@example.org")
    page.locator("#compare-suggestions-b").get_by_role("link", name=f"Profile {denver}").click()

    expect(page).to_have_url(re.compile(rf"/compare/\?b={denver}&a={boston}$"))
    verdict = page.locator("#verdict")
    expect(verdict).to_contain_text(f"Detection does not suggest profiles {boston} and {denver}")
    expect(verdict).to_contain_text("No linkage key brings them together")
    expect(verdict).to_contain_text("No suggestion holds them.")
    keys = page.locator("#linkage-keys")
    expect(keys.locator("tr", has_text="Same date of birth and first name")).to_contain_text(
        "different date of birth"
    )
    expect(keys.locator("tr", has_text="Same name sounds and city")).to_contain_text(
        "different city"
    )
    expect(page.locator("#pair-score")).to_contain_text(
        re.compile(r"under the threshold of \d+(\.\d+)?")
    )
    expect(page.locator("#field-weights tr", has_text="date of birth")).to_contain_text(
        "different"
    )
    expect(page.locator("#would-block")).to_contain_text("Nothing: a steward may merge them.")
    shot(page, "compare-namesakes")


def test_the_compare_page_of_a_blocked_pair_shows_its_blocking_reasons(
    live_server, log_in, steward, console
):
    maria, carlos = sorted(console.garcias.profiles.values_list("pk", flat=True))
    page = log_in(steward)
    page.goto(f"{live_server.url}/queue/{console.garcias.pk}/")

    page.get_by_role("link", name=f"profiles {maria} and {carlos}").click()

    expect(page.locator("#verdict")).to_contain_text("They share the phone +12125550142.")
    expect(page.locator("#verdict")).to_contain_text(
        f"Candidate {console.garcias.pk} is open in the queue, blocked: different unique IDs"
    )
    blocked = page.locator("#would-block")
    expect(blocked.locator('[data-code="unique_id_conflict"]')).to_contain_text(
        "Different loyalty cards"
    )
    expect(blocked.locator('[data-code="access_contact_mismatch"]')).to_be_visible()
    expect(page.locator("#compare-merge")).to_have_count(0)  # a steward may not override
    shot(page, "compare-blocked")


def test_sorting_by_a_column_header_keeps_the_filters(live_server, log_in, viewer, console):
    page = log_in(viewer)
    page.goto(f"{live_server.url}/queue/?evidence=shared_value&blocked=no")
    expect(page.locator("table.queue tbody tr")).to_have_count(2)

    page.get_by_role("link", name="Score").click()

    expect(page).to_have_url(re.compile(r"/queue/\?[^?]*sort=score(&|$)"))
    expect(page).to_have_url(re.compile(r"evidence=shared_value"))
    expect(page).to_have_url(re.compile(r"blocked=no"))
    expect(page.locator("table.queue tbody tr")).to_have_count(2)
    scores = [float(s) for s in page.locator("table.queue td.num").all_inner_texts()]
    assert scores == sorted(scores, reverse=True)
    page.get_by_role("link", name="Score ↓").click()
    expect(page).to_have_url(re.compile(r"sort=score_asc"))
    page.get_by_role("link", name="Age").click()
    expect(page).to_have_url(re.compile(r"/queue/\?[^?]*sort=oldest"))
    expect(page).to_have_url(re.compile(r"blocked=no"))
    expect(page.get_by_label("Blocked", exact=True)).to_have_value("no")
    expect(page.get_by_label("Sort")).to_have_value("oldest")
    page.get_by_label("Evidence").select_option("")  # a filter changed next keeps the order
    expect(page).to_have_url(re.compile(r"sort=oldest"))
    expect(page).not_to_have_url(re.compile(r"evidence=shared_value"))
    shot(page, "queue-sorted")


def test_keys_claim_merge_and_list_themselves_and_the_next_candidate_is_ready(
    live_server, log_in, steward, console
):
    first, second = DuplicateCandidate.objects.order_by("-created_at", "-id")[:2]
    page = log_in(steward)
    page.goto(f"{live_server.url}/queue/{first.pk}/")
    rules = page.locator('script[type="speculationrules"]')
    assert f"/queue/{second.pk}/" in rules.inner_text()
    page.wait_for_timeout(1000)  # time to render the next one ahead
    page.keyboard.press("j")
    expect(page).to_have_url(re.compile(rf"/queue/{second.pk}/"))
    arrival = page.evaluate("performance.getEntriesByType('navigation')[0].toJSON()")
    # Shown from the page rendered ahead, or at least from its document fetched ahead.
    assert arrival["activationStart"] > 0 or arrival["deliveryType"] == "navigational-prefetch"
    page.keyboard.press("k")
    expect(page).to_have_url(re.compile(rf"/queue/{first.pk}/"))

    page.keyboard.press("?")
    expect(page.locator("#shortcut-help")).to_be_visible()
    expect(page.locator("#shortcut-help")).to_contain_text("claim it for yourself")
    shot(page, "review-keys")
    page.keyboard.press("Escape")
    expect(page.locator("#shortcut-help")).to_be_hidden()

    page.keyboard.press("c")
    expect(page.locator("#messages")).to_contain_text(f"You claimed candidate {first.pk}.")
    assert DuplicateCandidate.objects.get(pk=first.pk).assignee == steward

    unblocked = _candidate_of(console.jane, *[
        pk for pk in console.does.profiles.values_list("pk", flat=True) if pk != console.jane
    ])
    page.goto(f"{live_server.url}/queue/{unblocked.pk}/")
    page.keyboard.press("m")
    expect(page).to_have_url(re.compile(rf"/queue/{unblocked.pk}/merge/"))

    page.goto(f"{live_server.url}/queue/{console.garcias.pk}/")  # blocked: m does nothing
    page.keyboard.press("m")
    page.wait_for_timeout(300)
    expect(page).to_have_url(re.compile(rf"/queue/{console.garcias.pk}/$"))
