"""Profile search (/profiles/) by any identifier, normalised as writes are, or by name; and the
profile page (/profiles/<id>/)."""

import pytest
from django.utils import timezone

from identity.matching.detect import detect_all
from identity.models import Identifier
from profiles.models import Profile, ProfileEvent
from tests.factories import write

pytestmark = pytest.mark.django_db


def found(response):
    return [result.profile.pk for result in response.context["results"]]


@pytest.fixture
def jane(db):
    return write({"email": "jane@example.com", "phone": "(212) 555-0142", "customer_id": "C-1",
                  "first_name": "Jane", "last_name": "Doe"}, "email").profile_id


def test_search_by_email_normalises_the_box_as_writes_do(client, viewer, jane):
    client.force_login(viewer)

    response = client.get("/profiles/", {"q": " JANE@example.com "})

    assert found(response) == [jane]
    assert "Email: jane@example.com" in response.content.decode()


@pytest.mark.parametrize("typed", ["+1 212 555 0142", "(212) 555-0142", "212.555.0142"])
def test_search_by_phone_in_any_format(client, viewer, jane, typed):
    client.force_login(viewer)

    assert found(client.get("/profiles/", {"q": typed})) == [jane]


def test_search_by_a_trimmed_id_and_by_profile_id(client, viewer, jane):
    client.force_login(viewer)

    assert found(client.get("/profiles/", {"q": "  C-1 "})) == [jane]
    assert found(client.get("/profiles/", {"q": f"#{jane}"})) == [jane]


def test_a_previous_value_still_finds_its_profile_and_says_so(client, viewer):
    write({"email": "kim@example.com", "customer_id": "C-7"}, "email")
    profile = write({"email": "kim@example.com", "customer_id": "C-8"}, "email").profile_id
    Identifier.objects.filter(value="C-7").update(is_current=False)
    client.force_login(viewer)

    response = client.get("/profiles/", {"q": "C-7"})

    assert found(response) == [profile]
    assert "previous Customer ID: C-7" in response.content.decode()


def test_search_by_name_is_forgiving(client, viewer, jane):
    smithson = write({"email": "jon@example.com", "first_name": "Jon",
                      "last_name": "Smithson"}, "email").profile_id
    write({"email": "mary@example.com", "first_name": "Mary", "last_name": "Jones"}, "email")
    client.force_login(viewer)

    assert found(client.get("/profiles/", {"q": "Jane Doe"})) == [jane]
    assert found(client.get("/profiles/", {"q": "doe jane"})) == [jane]
    assert found(client.get("/profiles/", {"q": "Smithsen"})) == [smithson]
    assert found(client.get("/profiles/", {"q": "smith"})) == [smithson]
    assert found(client.get("/profiles/", {"q": "Zelda"})) == []


def test_nothing_typed_finds_nothing_and_nothing_found_says_so(client, viewer, jane):
    client.force_login(viewer)

    assert found(client.get("/profiles/")) == []
    response = client.get("/profiles/", {"q": "nobody@example.com"})
    assert found(response) == []
    assert "No profile matches" in response.content.decode()


def test_an_htmx_search_gets_only_the_results(client, viewer, jane):
    client.force_login(viewer)

    response = client.get("/profiles/", {"q": "jane@example.com"},
                          headers={"HX-Request": "true"})

    assert "<html" not in response.content.decode()
    assert found(response) == [jane]


def test_search_takes_the_same_queries_for_1_and_50_results(client, viewer,
                                                            django_assert_num_queries):
    for n in range(50):
        write({"email": f"ann{n}@example.com", "first_name": "Annabel",
               "last_name": f"Quist{n}"}, "email")
    client.force_login(viewer)

    with django_assert_num_queries(12):
        one = client.get("/profiles/", {"q": "ann7@example.com"})
    with django_assert_num_queries(12):
        fifty = client.get("/profiles/", {"q": "Annabel"})

    assert len(found(one)) == 1 and len(found(fifty)) == 50


def test_the_profile_page_shows_identifiers_attributes_events_and_candidates(
    client, viewer, jane
):
    other = write({"email": "doe.j@example.com", "phone": "+12125550142"}, "email").profile_id
    ProfileEvent.objects.create(profile_id=jane, kind="order", occurred_at=timezone.now())
    detect_all()
    client.force_login(viewer)

    response = client.get(f"/profiles/{jane}/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "jane@example.com" in page and "+12125550142" in page and "“(212) 555-0142”" in page
    attributes = {name: value for name, value, _ in response.context["page"].attributes}
    assert attributes == {"first name": "Jane", "last name": "Doe"}
    assert all(observed for _, _, observed in response.context["page"].attributes)
    assert "order" in page and "Events <span class=\"muted\">(1)</span>" in page
    (candidate, others), = response.context["page"].candidates
    assert others == [other]
    assert f'href="/queue/{candidate.pk}/' in page


def test_a_merged_profile_id_lands_on_its_survivor_with_a_notice(client, viewer, jane):
    tombstone = write({"email": "old@example.com"}, "email").profile_id
    Profile.objects.filter(pk=tombstone).update(status=Profile.Status.MERGED, merged_into_id=jane)
    client.force_login(viewer)

    response = client.get(f"/profiles/{tombstone}/", follow=True)

    assert response.redirect_chain == [(f"/profiles/{jane}/", 302)]
    assert f"Profile {tombstone} was merged into profile {jane}" in response.content.decode()


def test_a_steward_may_edit_identifiers_on_the_profile_page_and_a_viewer_may_not(
    client, viewer, steward, jane
):
    client.force_login(viewer)
    assert "/remove/" not in client.get(f"/profiles/{jane}/").content.decode()

    client.force_login(steward)
    assert "/remove/" in client.get(f"/profiles/{jane}/").content.decode()


def test_profile_pages_need_the_view_permission(client, nobody, jane):
    client.force_login(nobody)

    response = client.get(f"/profiles/{jane}/")

    assert response.status_code == 403
    assert "profiles.view_profile" in response.content.decode()
