"""A steward opens the queue while Redis is down: the page says the work queue is paused."""

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=10_000)


def test_the_queue_page_says_the_work_queue_is_paused(live_server, log_in, steward, console,
                                                     settings):
    page = log_in(steward)
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    page.get_by_role("link", name="Queue").click()

    banner = page.get_by_role("status").filter(has_text="The work queue is paused.")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("runs by itself once the broker is back")
