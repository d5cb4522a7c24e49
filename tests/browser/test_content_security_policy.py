"""Every page works under the Content-Security-Policy: no script or style is refused."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_stewards_pages_load_under_the_policy_without_a_violation(
    live_server, log_in, steward, console
):
    violations = []
    page = log_in(steward)
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)

    for path in ["/", "/queue/", f"/queue/{console.garcias.pk}/", f"/profiles/{console.jane}/",
                 "/merges/", "/audit/", "/settings/identifier-types/",
                 f"/compare/?a={console.jane}&b={console.jane + 1}"]:
        response = page.goto(f"{live_server.url}{path}")
        assert "script-src 'self'" in response.headers["content-security-policy"]
    page.goto(f"{live_server.url}/queue/")
    page.get_by_label("Blocked", exact=True).select_option("yes")  # htmx still swaps
    expect(page).to_have_url(re.compile(r"blocked=yes"))
    expect(page.locator("table.queue tbody tr")).to_have_count(1)

    assert violations == []
