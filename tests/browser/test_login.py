import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_steward_logs_in_and_sees_the_dashboard(live_server, page, steward):
    page.goto(f"{live_server.url}/queue/")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/queue/")

    page.get_by_label("Username").fill("steward")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(f"{live_server.url}/queue/")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.locator(".account .who")).to_have_text("steward")
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator("#open-candidates")).to_have_text("0")


def test_a_wrong_password_keeps_the_steward_out(live_server, page, steward):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("steward")
    page.get_by_label("Password").fill("guess")
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)


def test_htmx_is_loaded_and_sends_the_csrf_token(log_in, steward):
    page = log_in(steward)

    assert page.evaluate("typeof htmx") == "object"
    headers = page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))")
    assert len(headers["X-CSRFToken"]) > 20


def test_repeated_wrong_passwords_lock_the_login_out_with_a_clear_page(
    live_server, page, steward, settings
):
    page.goto(f"{live_server.url}/accounts/login/")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page.get_by_label("Username").fill("steward")
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_load_state()

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("steward")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("heading", name="Too many failed logins")).to_be_visible()
    expect(page.get_by_text("ask an administrator to unlock")).to_be_visible()
