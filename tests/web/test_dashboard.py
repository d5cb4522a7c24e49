"""The dashboard (/): queue counts, blocked share by reason, opened and closed per day, junk."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from identity.candidates.blocking_codes import refresh_blocking_codes
from identity.candidates.lifecycle import dismiss_candidate
from identity.matching.detect import detect_all
from identity.models import DuplicateCandidate
from tests.factories import write

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue(db):
    """A blocked household, two unblocked pairs, a junk phone."""
    for card, first in (("LC-1", "Maria"), ("LC-2", "Carlos")):
        write({"loyalty_card": card, "phone": "(212) 555-0142", "first_name": first},
              "loyalty_card")
    for n in range(2):
        for who in ("a", "b"):
            write({"email": f"{who}{n}@example.com", "phone": f"(646) 555-010{n}"}, "email")
    for n in range(52):
        write({"email": f"walk.in.{n}@example.com", "phone": "(212) 555-0100"}, "email")
    detect_all()
    refresh_blocking_codes(DuplicateCandidate.objects.values_list("pk", flat=True))


def test_the_dashboard_counts_open_blocked_and_dismissed(client, viewer, steward, queue):
    dismissed = DuplicateCandidate.objects.filter(blocking_codes=[]).first()
    dismiss_candidate(candidate=dismissed, reason="neighbours", actor=steward)
    client.force_login(viewer)

    response = client.get("/")

    page = response.content.decode()
    assert re.search(r'id="open-candidates">2<', page)
    assert re.search(r'id="blocked-candidates">1<', page)
    assert re.search(r'id="dismissed-candidates">1<', page)
    assert "50% of open" in page


def test_the_blocked_share_is_given_per_reason(client, viewer, queue):
    client.force_login(viewer)

    response = client.get("/")

    shares = {r["code"]: r for r in response.context["reasons"]}
    assert shares["unique_id_conflict"]["count"] == 1
    assert shares["unique_id_conflict"]["share"] == pytest.approx(1 / 3)
    assert shares["merge_in_progress"]["count"] == 0
    assert 'href="/queue/?reason=unique_id_conflict"' in response.content.decode()


def test_the_chart_has_a_bar_pair_for_each_of_30_days(client, viewer, steward, queue):
    closed = DuplicateCandidate.objects.filter(blocking_codes=[]).first()
    dismiss_candidate(candidate=closed, reason="neighbours", actor=steward)
    DuplicateCandidate.objects.filter(pk=closed.pk).update(
        created_at=timezone.now() - timedelta(days=3)
    )
    client.force_login(viewer)

    response = client.get("/")

    days = response.context["days"]
    assert len(days) == 30 and days[-1].date == timezone.localdate()
    assert (days[-1].opened, days[-1].closed) == (2, 1)
    assert days[-4].opened == 1
    page = response.content.decode()
    chart = page.split('<svg class="chart" id="daily-chart"', 1)[1].split("</svg>", 1)[0]
    assert chart.count('class="bar-opened"') == 31  # a bar a day, and the legend's swatch
    assert f"{timezone.localdate():%b} {timezone.localdate().day}: 2 opened" in chart


def test_junk_values_are_listed_with_their_counts(client, viewer, queue):
    client.force_login(viewer)

    page = client.get("/").content.decode()

    junk = page.split('id="junk-values"', 1)[1].split("</table>", 1)[0]
    assert "+12125550100" in junk and ">52<" in junk


def test_an_empty_dashboard(client, viewer):
    client.force_login(viewer)

    response = client.get("/")

    assert response.status_code == 200
    assert "No junk values." in response.content.decode()


def test_the_dashboard_takes_a_fixed_number_of_queries(client, viewer, queue,
                                                       django_assert_num_queries):
    client.force_login(viewer)

    with django_assert_num_queries(14):
        client.get("/")


def test_the_dashboard_needs_the_view_permission(client, nobody):
    client.force_login(nobody)

    response = client.get("/")

    assert response.status_code == 403
    assert "identity.view_duplicatecandidate" in response.content.decode()
