""""Why not?" for any two profiles (SPEC 8: /compare/ and GET /api/v1/compare): what detection
says of the pair, from the code detection runs."""

from dataclasses import replace

import pytest

from identity.candidates.lifecycle import dismiss_candidate
from identity.matching.compare import why_not
from identity.matching.learning import current_weights
from identity.matching.rules import CONFIG
from profiles.models import Profile
from tests.factories import make_token, write
from tests.identity.conftest import candidate_of, detect


@pytest.fixture
def household(db):
    """Maria and Carlos Garcia: one phone, two loyalty cards (blocked)."""
    maria = write({"email": "maria.garcia@example.com", "phone": "(212) 555-0142",
                   "loyalty_card": "LC-40017", "first_name": "Maria", "last_name": "Garcia"},
                  "email", accessContacts=["email"]).profile_id
    carlos = write({"loyalty_card": "LC-40018", "phone": "+1 212 555 0142",
                    "first_name": "Carlos", "last_name": "Garcia"},
                   "loyalty_card", accessContacts=["loyalty_card"]).profile_id
    detect()
    return maria, carlos


def test_namesakes_are_not_suggested_and_the_answer_says_which_keys_they_miss(namesakes):
    boston, denver = namesakes

    answer = why_not(boston, denver)

    assert not answer.suggested and answer.candidates == []
    assert not answer.linked
    misses = {check.name: check.why for check in answer.linkage}
    assert misses["same date of birth and first name"] == "different date of birth"
    assert misses["same name sounds and city"] == "different city"
    assert misses["same surname sound and postcode"] == "postcode missing on both"
    assert misses["same name sounds and birth year"] == "different birth year"
    levels = {f.name: f.level for f in answer.fields}
    assert levels["first_name"] == "exact" and levels["last_name"] == "exact"
    assert levels["date_of_birth"] == "far"  # 1984 and 1971: two digits apart
    assert answer.score == pytest.approx(sum(f.weight for f in answer.fields), abs=0.05)
    assert any("No linkage key brings them together" in line for line in answer.why_not)


def test_the_score_is_the_one_detection_gave_the_pair(smithsons):
    detect()
    jon, john = smithsons
    stored = next(item for item in candidate_of(jon, john).evidence
                  if item["rule"] == "similar_people")

    answer = why_not(john, jon)  # either order

    assert answer.suggested and answer.similar
    assert answer.score == stored["score"]
    assert {f.name: (f.level, f.weight) for f in answer.fields} == {
        name: (compared["level"], compared["weight"])
        for name, compared in stored["fields"].items()
    }
    first = next(f for f in answer.fields if f.name == "first_name")
    assert first.values == ("john", "jon")  # in the order asked, not by id
    assert [c.name for c in answer.linkage if c.shared] == [
        "same date of birth and first name", "same date of birth and surname",
        "same date of birth and city", "same name sounds and birth year",
        "same name sounds and city",
    ]


def test_the_answer_follows_the_configuration_detection_follows(smithsons):
    jon, john = smithsons

    answer = why_not(jon, john, config=replace(CONFIG, threshold=99.0))

    assert not answer.suggested
    assert answer.threshold == 99.0
    assert any("under the threshold of 99" in line for line in answer.why_not)


def test_a_shared_phone_pairs_them_unless_it_is_a_junk_value(db):
    ids = [write({"email": f"walk-in{n}@example.com", "phone": "(212) 555-0100"},
                 "email").profile_id for n in range(3)]

    assert why_not(ids[0], ids[1]).ways == ["they share the phone +12125550100"]
    answer = why_not(ids[0], ids[1], config=replace(CONFIG, junk_limit=2))

    assert not answer.suggested
    [shared] = answer.shared
    assert shared.junk and shared.holders == 3 and not shared.pairs
    assert answer.why_not[0] == (
        "Their shared phone +12125550100 is a junk value, held by 3 profiles: it pairs nobody."
    )


def test_a_blocked_pair_shows_the_reasons_a_merge_would_meet(client, viewer, household):
    maria, carlos = household
    client.force_login(viewer)

    page = client.get("/compare/", {"a": maria, "b": carlos}).content.decode()

    assert "Detection suggests profiles" in page
    assert "They share the phone +12125550142." in page
    assert 'data-code="unique_id_conflict"' in page and "Different loyalty cards" in page
    assert 'data-code="access_contact_mismatch"' in page
    assert f"Candidate {candidate_of(maria, carlos).pk}" in page
    assert "is open in the queue, blocked: different unique IDs, different access contacts" in page


def test_a_dismissed_pair_says_who_decided_and_why(client, viewer, steward, household):
    maria, carlos = household
    dismiss_candidate(candidate=candidate_of(maria, carlos), reason="a married couple",
                      actor=steward)
    client.force_login(viewer)

    page = client.get("/compare/", {"a": carlos, "b": maria}).content.decode()

    assert "was decided not a duplicate by <strong>steward</strong>" in page
    assert "a married couple" in page
    assert 'data-code="previously_dismissed"' in page


def test_the_page_says_which_keys_namesakes_miss_and_the_score_they_would_get(
    client, viewer, namesakes
):
    boston, denver = namesakes
    client.force_login(viewer)

    response = client.get("/compare/", {"a": boston, "b": denver})

    page = response.content.decode()
    answer = response.context["answer"]
    assert f"Detection does not suggest profiles {boston} and {denver}" in page
    assert "No suggestion holds them." in page
    assert "different date of birth" in page and "different city" in page
    assert f"<strong>{answer.score:.1f}</strong>" in page
    assert f"under the threshold of {answer.threshold:g}" in page


def test_a_box_finds_a_profile_by_an_identifier_or_offers_a_choice(client, viewer, household):
    maria, carlos = household
    client.force_login(viewer)

    page = client.get("/compare/", {"a": " MARIA.garcia@example.com ", "b": "LC-40018"})

    assert page.context["answer"].a == maria and page.context["answer"].b == carlos
    choices = client.get("/compare/", {"a": maria, "b": "Garcia"}).content.decode()
    assert "Several profiles match" in choices
    assert f"/compare/?b={carlos}&amp;a={maria}" in choices
    missing = client.get("/compare/", {"a": maria, "b": "999999"}).content.decode()
    assert "There is no profile 999999." in missing


def test_search_as_you_type_links_each_match_to_the_comparison(client, viewer, household):
    maria, carlos = household
    client.force_login(viewer)

    page = client.get("/compare/suggestions/", {"side": "b", "other": maria, "b": "garcia"})

    text = page.content.decode()
    assert f'href="/compare/?b={carlos}&amp;a={maria}"' in text
    assert f"?b={maria}&amp;" not in text  # the profile compared from is not offered


def test_a_merged_profile_is_compared_as_its_survivor(client, viewer, household):
    maria, carlos = household
    survivor = write({"email": "survivor@example.com"}, "email").profile_id
    Profile.objects.filter(pk=carlos).update(status=Profile.Status.MERGED,
                                             merged_into_id=survivor)
    client.force_login(viewer)

    page = client.get("/compare/", {"a": maria, "b": carlos})

    assert page.context["answer"].b == survivor
    assert f"Profile {carlos} was merged into profile {survivor}" in page.content.decode()
    same = client.get("/compare/", {"a": survivor, "b": carlos}).content.decode()
    assert "One person already" in same


def test_every_profile_page_links_to_compare(client, viewer, household):
    maria, carlos = household
    client.force_login(viewer)

    page = client.get(f"/profiles/{maria}/").content.decode()

    assert 'id="compare-with"' in page and 'action="/compare/"' in page
    assert f'href="/compare/?a={maria}&amp;b={carlos}"' in page  # beside the suggestion


def test_compare_needs_the_view_profile_permission(client, nobody, household):
    client.force_login(nobody)

    response = client.get("/compare/", {"a": household[0], "b": household[1]})

    assert response.status_code == 403
    assert "profiles.view_profile" in response.content.decode()


def test_the_api_twin_gives_the_same_facts(client, household):
    maria, carlos = household
    token = make_token()
    page = why_not(maria, carlos)

    response = client.get("/api/v1/compare", {"a": maria, "b": carlos},
                          headers={"Authorization": f"Bearer {token}"})

    body = response.json()
    assert response.status_code == 200
    assert body["suggested"] is True and body["ways"] == page.ways
    assert body["a"] == {"id": maria, "requested": maria}
    assert [r["code"] for r in body["blockingReasons"]] == [
        "unique_id_conflict", "access_contact_mismatch",
    ]
    assert body["sharedValues"][0]["type"] == "phone" and body["sharedValues"][0]["pairs"]
    assert body["similarity"]["score"] == page.score
    assert body["similarity"]["threshold"] == CONFIG.threshold_for(current_weights())
    assert [key["name"] for key in body["linkageKeys"]] == [k.name for k in CONFIG.linkage_keys]
    assert body["candidates"][0]["id"] == candidate_of(maria, carlos).pk
    assert body["candidates"][0]["status"] == "open"


def test_the_api_twin_refuses_what_it_cannot_answer(client, household):
    maria, carlos = household
    auth = {"Authorization": f"Bearer {make_token()}"}

    assert client.get("/api/v1/compare", {"a": maria}, headers=auth).status_code == 400
    assert client.get("/api/v1/compare", {"a": maria, "b": maria},
                      headers=auth).status_code == 400
    missing = client.get("/api/v1/compare", {"a": maria, "b": 999999}, headers=auth)
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "b"
    assert client.get("/api/v1/compare", {"a": maria, "b": carlos}).status_code == 401
