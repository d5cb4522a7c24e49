"""Odd numbers and text in a page's query (SPEC 10: never a 500): "²" is a digit Python cannot
read as a number, 20 digits are beyond PostgreSQL's bigint, and no stored value holds a NUL.
The page answers, with an error where it names one, and the other filters still apply."""

import pytest

from merges.models import MergeJob
from tests.factories import make_token

pytestmark = pytest.mark.django_db

BEYOND_BIGINT = "9" * 20


@pytest.mark.parametrize("url", [
    "/queue/?size=²",
    "/merges/?before=²",
    "/audit/?before=²", "/audit/?after=1²", "/audit/?size=²",
    "/profiles/?q=²", "/profiles/?q=a%00b", "/profiles/?q=%23" + BEYOND_BIGINT,
    "/compare/?a=%00&b=²",
    "/merges/new/?profiles=²,1²",
])
def test_a_page_answers_an_odd_query(client, senior, url):
    client.force_login(senior)

    response = client.get(url)

    assert response.status_code in (200, 302)


@pytest.mark.parametrize("url", [f"/merges/?profile={BEYOND_BIGINT}",
                                 f"/audit/?profile={BEYOND_BIGINT}"])
def test_a_profile_id_beyond_any_profile_is_named_as_the_error(client, senior, url):
    client.force_login(senior)

    response = client.get(url)

    assert response.status_code == 200
    assert "No profile has an id this large." in response.content.decode()


def test_a_merge_filter_in_error_leaves_the_other_filters_applied(client, senior, ken):
    failed = MergeJob.objects.create(survivor_id=ken[0], merged_profile_ids=[ken[1]],
                                     requested_by=senior, status=MergeJob.Status.FAILED)
    MergeJob.objects.create(survivor_id=ken[0], merged_profile_ids=[ken[1]], requested_by=senior)
    client.force_login(senior)

    response = client.get("/merges/?profile=1.5&status=failed")

    assert response.status_code == 200
    assert "A profile id is a whole number." in response.content.decode()
    assert [job.pk for job in response.context["page"].jobs] == [failed.pk]


@pytest.mark.parametrize(("url", "field"), [
    ("/api/v1/compare?a=²&b=1", "a"),
    (f"/api/v1/compare?a=1&b={BEYOND_BIGINT}", "b"),
    ("/api/v1/merges?after=²", "after"),
    ("/api/v1/merges?limit=1²", "limit"),
])
def test_the_api_names_an_odd_number_as_a_400(client, url, field):
    token = make_token()

    response = client.get(url, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
