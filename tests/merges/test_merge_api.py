"""The merge rows of the API (SPEC 10): a token acts with its user's permissions."""

import json

import pytest
from django.core.management import CommandError, call_command

from identity.api.tokens import create_api_token
from identity.models import ApiToken
from merges.models import MergeJob
from merges.services import execute_merge
from profiles.models import Profile
from tests.factories import post_json, write

pytestmark = pytest.mark.django_db


@pytest.fixture
def steward_token(steward):
    return create_api_token(name="crm", user=steward)


@pytest.fixture
def senior_token(senior):
    return create_api_token(name="senior-crm", user=senior)


def test_a_stewards_token_requests_a_merge_and_reads_its_job(client, steward_token, ken):
    online, till = ken

    response = post_json(client, "/api/v1/merges", {"profileIds": [online, till],
                                                     "survivorId": online}, steward_token)

    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["survivorId"]) == ("queued", online)
    execute_merge(body["mergeId"])
    job = client.get(f"/api/v1/merges/{body['mergeId']}",
                     headers={"Authorization": f"Bearer {steward_token}"}).json()
    assert job["status"] == "succeeded"
    assert job["mergedIds"] == [till] and job["error"] is None and job["finishedAt"]
    moved = client.get(f"/api/v1/profiles/{till}",
                       headers={"Authorization": f"Bearer {steward_token}"})
    assert moved.status_code == 308 and moved.json()["mergedInto"] == online


def test_an_integration_token_may_not_merge(client, ken):
    token = create_api_token(name="webshop")

    response = post_json(client, "/api/v1/merges", {"profileIds": list(ken)}, token)

    assert response.status_code == 403
    assert "integration token" in response.json()["error"]["message"]
    assert not MergeJob.objects.exists()


def test_a_viewers_token_may_not_merge(client, viewer, ken):
    token = create_api_token(name="reader", user=viewer)

    response = post_json(client, "/api/v1/merges", {"profileIds": list(ken)}, token)

    assert response.status_code == 403


def test_a_blocked_group_is_refused_naming_its_reasons(client, steward_token, household):
    response = post_json(client, "/api/v1/merges", {"profileIds": list(household)},
                         steward_token)

    assert response.status_code == 403
    assert [r["code"] for r in response.json()["reasons"]] == [
        "unique_id_conflict", "access_contact_mismatch",
    ]


def test_a_senior_merges_a_blocked_group_acknowledging_every_reason(
    client, senior_token, household
):
    body = {"profileIds": list(household), "acknowledgements": [
        {"code": "unique_id_conflict", "justification": "card replaced"},
    ]}
    missing = post_json(client, "/api/v1/merges", body, senior_token)
    assert missing.status_code == 403
    assert [r["code"] for r in missing.json()["reasons"]] == ["access_contact_mismatch"]

    body["acknowledgements"].append({"code": "access_contact_mismatch", "justification": "both"})
    response = post_json(client, "/api/v1/merges", body, senior_token)

    assert response.status_code == 202


def test_a_profile_already_in_a_merge_answers_409(client, steward_token, ken):
    post_json(client, "/api/v1/merges", {"profileIds": list(ken)}, steward_token)

    again = post_json(client, "/api/v1/merges", {"profileIds": list(ken)}, steward_token)

    assert again.status_code == 409
    assert again.json()["error"]["field"] == "profileIds"


@pytest.mark.parametrize("body, field", [
    ({"profileIds": "1,2"}, "profileIds"),
    ({"profileIds": [1, True]}, "profileIds"),
    ({"profileIds": [1, 2], "survivorId": "1"}, "survivorId"),
    ({"profileIds": [1, 2], "fieldChoices": {"city": "x"}}, "fieldChoices"),
    ({"profileIds": [1, 2], "acknowledgements": [{"code": "x"}]}, "acknowledgements"),
    ([1, 2], "body"),
])
def test_bad_input_is_a_400_naming_the_field(client, steward_token, body, field):
    response = post_json(client, "/api/v1/merges", body, steward_token)

    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


def test_an_unknown_profile_is_a_404(client, steward_token, ken):
    response = post_json(client, "/api/v1/merges", {"profileIds": [ken[0], 999999]},
                         steward_token)

    assert response.status_code == 404
    assert "999999" in response.json()["error"]["message"]


def test_a_repeated_idempotency_key_returns_the_first_answer(client, steward_token, ken):
    body = {"profileIds": list(ken)}
    first = post_json(client, "/api/v1/merges", body, steward_token, **{"Idempotency-Key": "m1"})
    again = post_json(client, "/api/v1/merges", body, steward_token, **{"Idempotency-Key": "m1"})

    assert again.status_code == 202 and again.json() == first.json()
    assert MergeJob.objects.count() == 1


def test_the_feed_gives_every_succeeded_merge_once_in_commit_order_across_pages(
    client, steward
):
    token = create_api_token(name="downstream", user=steward)
    auth = {"Authorization": f"Bearer {token}"}
    seen, cursor = [], "0"
    for round_ in range(4):
        for n in range(3):  # merges keep happening between the consumer's reads
            a = write({"email": f"a{round_}{n}@example.com"}, "email").profile_id
            b = write({"email": f"b{round_}{n}@example.com"}, "email").profile_id
            job = MergeJob.objects.create(survivor_id=a, merged_profile_ids=[b],
                                          requested_by=steward)
            execute_merge(job.pk)
        page = client.get(f"/api/v1/merges?after={cursor}&limit=2", headers=auth).json()
        seen += [entry["mergeId"] for entry in page["results"]]
        cursor = page["next"]
    while True:
        page = client.get(f"/api/v1/merges?after={cursor}&limit=2", headers=auth).json()
        if not page["results"]:
            break
        seen += [entry["mergeId"] for entry in page["results"]]
        cursor = page["next"]

    done = list(MergeJob.objects.filter(status="succeeded").order_by("feed_position")
                .values_list("pk", flat=True))
    assert seen == done and len(seen) == 12
    assert Profile.objects.filter(status="merged").count() == 12


def test_the_merge_api_is_in_the_openapi_document(client):
    paths = json.loads(client.get("/api/v1/openapi.json").content)["paths"]

    assert {"post", "get"} <= set(paths["/api/v1/merges"])
    assert "get" in paths["/api/v1/merges/{merge_id}"]


def test_create_api_token_for_a_user_acts_for_that_user(steward):
    call_command("create_api_token", "crm-sync", "--user", "steward")

    assert ApiToken.objects.get(name="crm-sync").user == steward


def test_create_api_token_for_an_unknown_user_is_refused(db):
    with pytest.raises(CommandError, match="no active user"):
        call_command("create_api_token", "crm-sync", "--user", "ghost")

    assert not ApiToken.objects.exists()
