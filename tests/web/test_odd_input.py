"""Odd input gets a clear error, never a 500: "²" is a digit Python cannot read as a number,
20 digits are beyond PostgreSQL's bigint, and PostgreSQL stores no NUL (nor, in JSON, a lone
surrogate). A page answers, with an error in words where one applies, and changes nothing; the
valid filters beside an invalid one still apply."""

import json

import pytest

from identity.api.tokens import create_api_token
from identity.models import DuplicateCandidate, IdentifierType
from merges.models import AuditEntry, MergeJob
from profiles.models import Profile
from tests.factories import make_token, post_json

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


@pytest.mark.parametrize("url", [f"/profiles/{BEYOND_BIGINT}/", f"/queue/{BEYOND_BIGINT}/",
                                 f"/merges/{BEYOND_BIGINT}/",
                                 f"/api/v1/profiles/{BEYOND_BIGINT}",
                                 f"/api/v1/merges/{BEYOND_BIGINT}"])
def test_an_id_beyond_any_object_is_not_found(client, senior, url):
    client.force_login(senior)

    response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {make_token()}")

    assert response.status_code == 404


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
    ("/api/v1/candidates?after=-1", "after"),
    ("/api/v1/candidates?limit=²", "limit"),
])
def test_the_api_names_an_odd_number_as_a_400(client, url, field):
    token = make_token()

    response = client.get(url, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


# Text PostgreSQL cannot store (SPEC 10): a NUL, or a lone surrogate in JSON ("\ud800"). A form
# or a request holding one is refused in words, and nothing is changed.


def test_a_reason_with_a_nul_is_refused_and_nothing_is_dismissed_or_erased(
    client, steward, admin, ken
):
    candidate = DuplicateCandidate.objects.create()
    candidate.profiles.set(ken)
    client.force_login(steward)

    dismissed = client.post(f"/queue/{candidate.pk}/dismiss/", {"reason": "twins\x00"},
                            follow=True)
    client.force_login(admin)
    erased = client.post(f"/profiles/{ken[0]}/erase/",
                         {"reason": "ticket\x009", "confirmation": "ERASE"}, follow=True)

    assert "the reason contains a NUL character" in dismissed.content.decode()
    assert "the reason contains a NUL character" in erased.content.decode()
    candidate.refresh_from_db()
    assert candidate.status == DuplicateCandidate.Status.OPEN
    assert Profile.objects.filter(pk=ken[0]).exists()
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(("body", "field"), [
    ('{"changes": {"label": "Card\\u0000"}, "reason": "rename"}', "label"),
    ('{"changes": {"label": "Card"}, "reason": "rename \\ud800"}', "reason"),
])
def test_a_type_change_with_unstorable_text_is_a_400_naming_it(client, senior, body, field):
    token = create_api_token(name="ci", user=senior)

    response = client.patch("/api/v1/identifier-types/loyalty_card", data=body,
                            content_type="application/json",
                            headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
    assert IdentifierType.objects.get(key="loyalty_card").label == "Loyalty card"


def test_a_merge_justified_with_a_nul_is_a_400(client, senior, household):
    token = create_api_token(name="ci", user=senior)
    body = {"profileIds": list(household), "acknowledgements": [
        {"code": "unique_id_conflict", "justification": "card\u0000replaced"},
        {"code": "access_contact_mismatch", "justification": "both"},
    ]}

    response = post_json(client, "/api/v1/merges", json.dumps(body), token)

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "acknowledgements"
    assert not MergeJob.objects.exists()


@pytest.mark.parametrize(("url", "extra"), [
    ("/api/v1/profiles/upsert", {"headers": {"Idempotency-Key": "order\x00"}}),
    ("/api/v1/profiles/upsert", {"CONTENT_LENGTH": "²"}),
    ("/api/v1/profiles/batch", {"CONTENT_LENGTH": "²"}),
])
def test_odd_headers_are_a_400_naming_what_is_wrong(client, url, extra):
    token = make_token()
    headers = {"Authorization": f"Bearer {token}", **extra.pop("headers", {})}
    body = {"record": {"email": "ann@example.com"}, "matchKey": "email"}
    if url.endswith("batch"):
        body = {"records": [body]}

    response = client.post(url, data=json.dumps(body), content_type="application/json",
                           headers=headers, **extra)

    assert response.status_code == 400
    assert response.json()["error"]["field"] in ("Idempotency-Key", "body")
    assert not Profile.objects.exists()
