"""A steward's day in real Chromium: the queue, the review page, search and the dashboard."""

import re

import pytest
from playwright.sync_api import expect

from identity.models import DuplicateCandidate

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
# The suite shares its machine with workers and benchmarks: give each expectation some slack.
expect.set_options(timeout=10_000)


def test_a_steward_reviews_a_blocked_group_and_dismisses_another(
    live_server, log_in, steward, console
):
    page = log_in(steward)
    page.get_by_role("link", name="Queue").click()
    page.wait_for_url(re.compile(r"/queue/$"))  # loaded, htmx ready: a change is sent at once

    page.get_by_label("Blocked", exact=True).select_option("yes")

    expect(page).to_have_url(re.compile(r"/queue/\?.*blocked=yes"))
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Maria Garcia")
    expect(rows.first).to_contain_text("Different unique IDs")

    rows.first.get_by_role("link", name=f"Candidate {console.garcias.pk}").click()

    expect(page).to_have_url(re.compile(rf"/queue/{console.garcias.pk}/\?.*blocked=yes"))
    conflict = page.locator('[data-code="unique_id_conflict"]')
    expect(conflict).to_contain_text("Different loyalty cards")
    expect(conflict).to_contain_text("LC-40017")
    expect(conflict).to_contain_text("LC-40018")
    expect(conflict.locator(".remedies")).to_contain_text(
        "Clear the loyalty card on the profile it does not belong to"
    )
    expect(conflict.locator(".remedies")).to_contain_text("Merge anyway")
    expect(page.locator("#merge-button")).to_be_disabled()
    expect(page.locator("#group-graph")).to_contain_text("phone: +12125550142")
    expect(page.locator("#group-graph")).to_contain_text("different loyalty cards")

    page.goto(f"{live_server.url}/queue/{console.okafors.pk}/")
    page.get_by_text("Not a duplicate…").click()
    page.get_by_label("Why are these different people?").fill("father and son, same phone")
    page.get_by_role("button", name="Dismiss: not a duplicate").click()

    expect(page.locator("#messages")).to_contain_text(
        f"Candidate {console.okafors.pk} dismissed"
    )
    page.goto(f"{live_server.url}/queue/")
    expect(page.locator(f"#candidate-{console.garcias.pk}")).to_be_visible()
    expect(page.locator(f"#candidate-{console.okafors.pk}")).to_have_count(0)
    assert DuplicateCandidate.objects.get(pk=console.okafors.pk).dismiss_reason == (
        "father and son, same phone"
    )


def test_a_steward_dismisses_from_the_queue_in_bulk_without_leaving_it(
    live_server, log_in, steward, console
):
    page = log_in(steward)
    page.goto(f"{live_server.url}/queue/?sort=score")
    page.evaluate("window.stayedOnThePage = true")

    page.get_by_label(f"Select candidate {console.does.pk}").check()
    expect(page.locator("#bulk-count")).to_have_text("1 selected")
    page.get_by_label("Not a duplicate, for the selected rows").fill("twins")
    page.get_by_role("button", name="Dismiss selected").click()

    expect(page.locator(f"#candidate-{console.does.pk}")).to_have_count(0)
    expect(page.locator("#messages")).to_contain_text("1 suspected duplicate(s) dismissed")
    assert page.evaluate("window.stayedOnThePage") is True
    expect(page).to_have_url(f"{live_server.url}/queue/?sort=score")


def test_a_steward_claims_a_row_in_place(live_server, log_in, steward, console):
    page = log_in(steward)
    page.goto(f"{live_server.url}/queue/")
    row = page.locator(f"#candidate-{console.okafors.pk}")

    row.get_by_role("button", name="Claim").click()

    expect(row.locator(".who")).to_have_text("steward")
    expect(row.get_by_role("button", name="Unclaim")).to_be_visible()


def test_a_viewer_sees_no_action_buttons_and_a_forged_post_is_refused(
    live_server, log_in, viewer, console
):
    page = log_in(viewer)
    page.goto(f"{live_server.url}/queue/")
    expect(page.locator("table.queue tbody tr")).to_have_count(3)
    expect(page.get_by_role("button", name="Claim")).to_have_count(0)
    expect(page.get_by_role("button", name="Dismiss selected")).to_have_count(0)

    page.goto(f"{live_server.url}/queue/{console.garcias.pk}/")
    expect(page.locator('[data-code="unique_id_conflict"]')).to_contain_text("LC-40018")
    expect(page.locator("#merge-button")).to_have_count(0)
    expect(page.get_by_text("Not a duplicate…")).to_have_count(0)
    expect(page.get_by_text("Edit or remove")).to_have_count(0)

    token = page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRFToken']")
    response = page.request.post(
        f"{live_server.url}/queue/{console.garcias.pk}/dismiss/",
        form={"reason": "forged"}, headers={"X-CSRFToken": token},
    )

    assert response.status == 403
    assert "identity.dismiss_candidate" in response.text()
    assert DuplicateCandidate.objects.get(pk=console.garcias.pk).status == "open"


def test_htmx_filter_changes_keep_a_shareable_url(live_server, log_in, viewer, console):
    page = log_in(viewer)
    page.goto(f"{live_server.url}/queue/")
    page.evaluate("window.stayedOnThePage = true")

    page.get_by_label("Evidence").select_option("shared_value")
    expect(page).to_have_url(re.compile(r"evidence=shared_value"))
    page.get_by_label("Blocked", exact=True).select_option("no")
    expect(page).to_have_url(re.compile(r"blocked=no"))
    expect(page.locator("table.queue tbody tr")).to_have_count(2)
    assert page.evaluate("window.stayedOnThePage") is True
    shared = page.url

    page.goto(shared)

    expect(page.get_by_label("Blocked", exact=True)).to_have_value("no")
    expect(page.get_by_label("Evidence")).to_have_value("shared_value")
    expect(page.locator("table.queue tbody tr")).to_have_count(2)
    page.go_back()  # loading the same URL replaced its history entry
    expect(page).to_have_url(re.compile(r"evidence=shared_value"))
    expect(page).not_to_have_url(re.compile(r"blocked=no"))
    expect(page.locator("table.queue tbody tr")).to_have_count(3)
    expect(page.get_by_label("Blocked", exact=True)).to_have_value("")
    expect(page.get_by_label("Evidence")).to_have_value("shared_value")


def test_keyboard_shortcuts_move_through_the_queue_and_open_dismiss(
    live_server, log_in, steward, console
):
    page = log_in(steward)
    first, second = DuplicateCandidate.objects.order_by("-created_at", "-id")[:2]
    page.goto(f"{live_server.url}/queue/{first.pk}/")

    page.keyboard.press("j")
    expect(page).to_have_url(re.compile(rf"/queue/{second.pk}/"))
    page.keyboard.press("k")
    expect(page).to_have_url(re.compile(rf"/queue/{first.pk}/"))
    page.keyboard.press("d")
    expect(page.get_by_label("Why are these different people?")).to_be_focused()
    page.keyboard.type("j")  # typing in the reason moves nowhere
    expect(page).to_have_url(re.compile(rf"/queue/{first.pk}/"))


def test_search_finds_a_profile_by_an_email_typed_carelessly(live_server, log_in, viewer,
                                                             console):
    page = log_in(viewer)
    page.get_by_role("link", name="Profiles").click()

    page.get_by_label("Identifier, profile id or name").fill(" JANE@example.com ")
    page.get_by_role("button", name="Search").click()

    results = page.locator("#search-results table")
    expect(results).to_contain_text("Email: jane@example.com")
    expect(results).to_contain_text(f"Profile {console.jane}")
    expect(page).to_have_url(re.compile(r"/profiles/\?q=(%20|\+)JANE%40example.com"))


def test_the_dashboard_chart_renders(live_server, log_in, viewer, console):
    page = log_in(viewer)

    chart = page.locator("#daily-chart")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box["width"] > 400 and box["height"] > 120
    expect(chart.locator("rect.bar-opened")).to_have_count(31)
    today = chart.locator("rect.bar-opened").nth(29)
    assert today.bounding_box()["height"] > 100  # all three opened today: the tallest bar
    expect(page.locator("#open-candidates")).to_have_text("3")
