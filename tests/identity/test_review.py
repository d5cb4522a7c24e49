"""The side-by-side review of a suspected duplicate (/queue/<id>/) and the actions taken there."""

import re

import pytest
from django.utils import timezone

from identity.candidates.lifecycle import dismiss_candidate
from identity.models import DuplicateCandidate, Identifier
from merges.models import AuditEntry, MergeJob
from profiles.models import Profile, ProfileEvent
from tests.factories import identifiers_of, text_of, write
from tests.identity.conftest import candidate_of, detect

pytestmark = pytest.mark.django_db


def loyalty_card(profile_id):
    return Identifier.objects.get(profile_id=profile_id, type__key="loyalty_card")


def panel(page, code):
    """The HTML of the blocking-reason panel with this code."""
    match = re.search(rf'<article class="reason card"[^>]*data-code="{code}">(.*?)</article>',
                      page, re.S)
    assert match, f"no {code} panel"
    return match.group(1)


def test_the_profiles_are_side_by_side_with_differing_attributes_highlighted(
    client, viewer, household
):
    detect()
    garcias = candidate_of(*household)
    client.force_login(viewer)

    response = client.get(f"/queue/{garcias.pk}/")

    assert response.status_code == 200
    review = response.context["review"]
    assert [c.profile.pk for c in review.columns] == sorted(household)
    rows = {row.key: row for row in review.attributes}
    assert rows["first_name"].differs and not rows["last_name"].differs
    page = response.content.decode()
    assert '<tr class="differs">' in page
    assert "Maria" in page and "Carlos" in page


def test_identifiers_are_grouped_by_type_normalised_and_raw_with_access_and_sources(
    client, viewer, household
):
    detect()
    client.force_login(viewer)

    response = client.get(f"/queue/{candidate_of(*household).pk}/")

    rows = {row.key: row for row in response.context["review"].identifiers}
    assert list(rows) == ["email", "loyalty_card", "phone"]
    assert rows["loyalty_card"].differs and not rows["phone"].differs
    page = response.content.decode()
    assert "+12125550142" in page
    assert "raw “(212) 555-0142”" in page and "raw “+1 212 555 0142”" in page
    assert 'title="Grants account access">access<' in page
    assert "webshop" in page and "till" in page
    assert "shared" in page


def test_the_events_summary_counts_and_names_the_last_event(client, viewer, household):
    maria, _ = household
    ProfileEvent.objects.create(profile_id=maria, kind="order",
                                occurred_at=timezone.now().replace(year=2026, month=3, day=1))
    ProfileEvent.objects.create(profile_id=maria, kind="page_view",
                                occurred_at=timezone.now().replace(year=2026, month=4, day=2))
    detect()
    client.force_login(viewer)

    page = client.get(f"/queue/{candidate_of(*household).pk}/").content.decode()

    assert "2 events" in page and "last: page_view on 2026-04-02" in page
    assert "0 events" in page


def test_similar_people_evidence_shows_each_fields_level_weight_and_values(
    client, viewer, smithsons
):
    detect()
    client.force_login(viewer)

    page = client.get(f"/queue/{candidate_of(*smithsons).pk}/").content.decode()

    assert "Similar people, score" in page
    assert re.search(r"<td>first name</td><td><span class=\"level\">nickname</span></td>"
                     r"<td class=\"num\">[\d.]+</td><td>jon</td><td>john</td>", page)
    assert "02108" in page and "02180" in page


def test_the_unique_id_conflict_panel_shows_both_cards_the_rule_and_the_remedies(
    client, steward, household
):
    detect()
    client.force_login(steward)

    page = client.get(f"/queue/{candidate_of(*household).pk}/").content.decode()

    conflict = panel(page, "unique_id_conflict")
    assert "Different loyalty cards" in conflict
    assert "LC-40017" in conflict and "LC-40018" in conflict
    assert "Loyalty card is a &#x27;do not merge&#x27; type" in conflict
    assert "Clear the loyalty card on the profile it does not belong to" in conflict
    assert "Merge anyway" in conflict
    assert conflict.count("/remove/") == 2 and conflict.count("/edit/") == 2
    assert "Needs the permission “Can merge a blocked group, acknowledging each reason”" in conflict
    assert '<small class="code">merges.override_blocking_reason</small>' in conflict
    mismatch = panel(page, "access_contact_mismatch")
    assert "maria.garcia@example.com" in mismatch and "LC-40018" in mismatch


def test_a_steward_sees_the_merge_button_disabled_with_the_reason(client, steward, household):
    detect()
    client.force_login(steward)

    page = client.get(f"/queue/{candidate_of(*household).pk}/").content.decode()

    assert re.search(r'<button type="button" class="primary" id="merge-button" disabled', page)
    assert "Blocked by different unique IDs, different access contacts" in page
    assert "Identifier type settings" not in page
    # The keys listed are those that do something here: no merge for a blocked group.
    assert "Keyboard: j next · k previous · c claim · d not a duplicate · ? all keys" in text_of(
        page)


def test_a_senior_steward_may_merge_anyway_and_change_the_type_setting(client, senior,
                                                                       household):
    detect()
    garcias = candidate_of(*household)
    client.force_login(senior)

    page = client.get(f"/queue/{garcias.pk}/").content.decode()

    conflict = panel(page, "unique_id_conflict")
    assert ('href="/settings/identifier-types/loyalty_card/">Loyalty card settings, with an impact '
            'preview' in conflict)
    assert f'href="/queue/{garcias.pk}/merge/">Merge anyway' in conflict
    assert re.search(rf'<a class="button warning" id="merge-button" href="/queue/{garcias.pk}'
                     r'/merge/"[^>]*>Merge anyway', page)


def test_an_unblocked_group_has_an_enabled_merge_button(client, steward, ken):
    detect()
    okafors = candidate_of(*ken)
    client.force_login(steward)

    page = client.get(f"/queue/{okafors.pk}/").content.decode()

    assert re.search(rf'id="merge-button" href="/queue/{okafors.pk}/merge/"[^>]*>Merge', page)
    assert "Why this merge is blocked" not in page
    assert "k previous · m merge · c claim · d not a duplicate" in text_of(page)


def test_a_viewer_sees_no_action_buttons_on_the_review_page(client, viewer, household):
    detect()
    client.force_login(viewer)

    page = client.get(f"/queue/{candidate_of(*household).pk}/").content.decode()

    assert "merge-button" not in page
    assert "/claim/" not in page and "/dismiss/" not in page
    assert "/remove/" not in page and "/edit/" not in page
    assert "Keyboard: j next · k previous · ? all keys" in text_of(page)
    assert "Needs the permission “Can change identifier”" in page


def test_the_group_is_drawn_as_svg_with_profiles_and_labelled_shared_values(
    client, viewer, household
):
    detect()
    client.force_login(viewer)
    maria, carlos = household

    page = client.get(f"/queue/{candidate_of(*household).pk}/").content.decode()

    svg = page.split('<svg class="graph"', 1)[1].split("</svg>", 1)[0]
    assert f">{maria}</tspan>" in svg and f">{carlos}</tspan>" in svg
    assert "phone: +12125550142" in svg
    assert "different loyalty cards" in svg
    assert svg.count('class="edge edge-') == 2


def test_a_value_shared_by_three_profiles_is_a_node_of_its_own(client, viewer):
    for n in range(3):
        write({"email": f"f{n}@example.com", "phone": "(212) 555-0190"}, "email")
    detect()
    client.force_login(viewer)
    candidate = DuplicateCandidate.objects.get()

    response = client.get(f"/queue/{candidate.pk}/")

    graph = response.context["review"].graph
    assert [n.kind for n in graph.nodes].count("value") == 1
    assert len(graph.edges) == 3


def test_a_steward_dismisses_with_a_reason_and_goes_to_the_next_item(
    client, steward, household, ken
):
    detect()
    garcias, okafors = candidate_of(*household), candidate_of(*ken)
    client.force_login(steward)
    page = client.get(f"/queue/{garcias.pk}/?blocked=yes").content.decode()
    next_url = re.search(r'name="next" value="([^"]+)"', page.split("dismiss-form", 1)[1])[1]

    response = client.post(f"/queue/{garcias.pk}/dismiss/",
                           {"reason": "a couple sharing a landline", "next": next_url})

    assert response.status_code == 302 and response.url == next_url
    garcias.refresh_from_db()
    assert garcias.status == DuplicateCandidate.Status.DISMISSED
    assert garcias.dismiss_reason == "a couple sharing a landline"
    entry = AuditEntry.objects.get(action="candidate.dismissed")
    assert entry.actor == steward and entry.targets["candidate"] == garcias.pk
    okafors.refresh_from_db()
    assert okafors.status == DuplicateCandidate.Status.OPEN


def test_dismissing_without_a_reason_changes_nothing(client, steward, household):
    detect()
    garcias = candidate_of(*household)
    client.force_login(steward)

    response = client.post(f"/queue/{garcias.pk}/dismiss/", {"reason": ""}, follow=True)

    garcias.refresh_from_db()
    assert garcias.status == DuplicateCandidate.Status.OPEN
    assert "say why these are different people" in response.content.decode()
    assert not AuditEntry.objects.exists()


def test_a_viewers_forged_dismiss_is_refused_naming_the_permission(client, viewer, household):
    detect()
    garcias = candidate_of(*household)
    client.force_login(viewer)

    response = client.post(f"/queue/{garcias.pk}/dismiss/", {"reason": "forged"})

    assert response.status_code == 403
    assert "identity.dismiss_candidate" in response.content.decode()
    garcias.refresh_from_db()
    assert garcias.status == DuplicateCandidate.Status.OPEN


def test_removing_the_card_that_does_not_belong_lifts_the_conflict_and_frees_the_card(
    client, steward, household
):
    detect()
    maria, carlos = household
    garcias = candidate_of(*household)
    card = loyalty_card(carlos)
    client.force_login(steward)

    response = client.post(f"/identifiers/{card.pk}/remove/", {
        "reason": "the card was Maria's, typed on Carlos", "next": f"/queue/{garcias.pk}/",
    })

    assert response.status_code == 302 and response.url == f"/queue/{garcias.pk}/"
    assert not Identifier.objects.filter(pk=card.pk).exists()
    entry = AuditEntry.objects.get(action="identifier.removed")
    assert entry.before["value"] == "LC-40018"
    assert entry.after == {"reason": "the card was Maria's, typed on Carlos"}
    garcias.refresh_from_db()
    assert "unique_id_conflict" not in garcias.blocking_codes
    page = client.get(f"/queue/{garcias.pk}/").content.decode()
    assert 'data-code="unique_id_conflict"' not in page
    someone = write({"email": "new@example.com", "loyalty_card": "LC-40018"}, "email")
    assert not someone.conflicts
    assert identifiers_of(someone.profile_id)["loyalty_card"] == ["LC-40018"]


def test_editing_an_identifier_normalises_it_as_writes_do(client, steward, household):
    detect()
    maria, _ = household
    email = Identifier.objects.get(profile_id=maria, type__key="email")
    client.force_login(steward)

    client.post(f"/identifiers/{email.pk}/edit/", {
        "raw_value": "  Maria.G@Example.COM ", "grants_access": "on",
        "reason": "typo at the till",
    })

    email.refresh_from_db()
    assert email.value == "maria.g@example.com"
    assert email.raw_value == "Maria.G@Example.COM"
    assert email.grants_access
    entry = AuditEntry.objects.get(action="identifier.edited")
    assert entry.before["value"] == "maria.garcia@example.com"
    assert entry.after["value"] == "maria.g@example.com"
    assert entry.after["reason"] == "typo at the till"


def test_taking_away_account_access_lifts_the_access_mismatch(client, steward, household):
    detect()
    maria, carlos = household
    garcias = candidate_of(*household)
    email = Identifier.objects.get(profile_id=maria, type__key="email")
    card = loyalty_card(carlos)
    client.force_login(steward)

    for identifier in (email, card):
        client.post(f"/identifiers/{identifier.pk}/edit/", {
            "raw_value": identifier.raw_value, "reason": "access was never granted",
        })

    garcias.refresh_from_db()
    assert garcias.blocking_codes == ["unique_id_conflict"]


@pytest.mark.parametrize("raw, message", [
    ("not an email", "is not a valid email address"),
    ("carlos@example.com", "belongs to profile"),
    ("maria.garcia@example.com", "nothing to change"),
    ("maria\x00@example.com", "the value contains a NUL character"),
    ("m" * 1001 + "@example.com", "the value is longer than 1000 characters"),
])
def test_an_edit_that_cannot_be_made_changes_nothing(client, steward, household, raw, message):
    detect()
    maria, _ = household
    write({"email": "carlos@example.com"}, "email")
    email = Identifier.objects.get(profile_id=maria, type__key="email")
    client.force_login(steward)

    response = client.post(f"/identifiers/{email.pk}/edit/", {
        "raw_value": raw, "reason": "try", "grants_access": "on",
    }, follow=True)

    assert message in response.content.decode()
    email.refresh_from_db()
    assert email.value == "maria.garcia@example.com"
    assert not AuditEntry.objects.exists()


def test_an_identifier_change_needs_a_reason(client, steward, household):
    detect()
    card = loyalty_card(household[1])
    client.force_login(steward)

    response = client.post(f"/identifiers/{card.pk}/remove/", {"reason": ""}, follow=True)

    assert Identifier.objects.filter(pk=card.pk).exists()
    assert "say why the identifier changes" in response.content.decode()


@pytest.mark.parametrize("action, permission", [
    ("edit", "identity.change_identifier"), ("remove", "identity.delete_identifier"),
])
def test_a_viewer_may_not_edit_or_remove_identifiers(client, viewer, household, action,
                                                     permission):
    card = loyalty_card(household[1])
    client.force_login(viewer)

    response = client.post(f"/identifiers/{card.pk}/{action}/",
                           {"raw_value": "LC-1", "reason": "forged"})

    assert response.status_code == 403
    assert permission in response.content.decode()
    card.refresh_from_db()
    assert card.value == "LC-40018"


def test_next_and_previous_follow_the_filtered_queue(client, viewer, household, ken,
                                                     smithsons):
    detect()
    garcias, okafors, similar = (candidate_of(*household), candidate_of(*ken),
                                 candidate_of(*smithsons))
    client.force_login(viewer)
    in_score_order = list(
        DuplicateCandidate.objects.order_by("-score", "-id").values_list("pk", flat=True)
    )
    middle = in_score_order[1]

    response = client.get(f"/queue/{middle}/?sort=score")

    assert response.context["previous_id"] == in_score_order[0]
    assert response.context["next_id"] == in_score_order[2]
    page = response.content.decode()
    assert f'href="/queue/{in_score_order[2]}/?sort=score" data-shortcut="next"' in page
    blocked_only = client.get(f"/queue/{garcias.pk}/?blocked=yes")
    assert (blocked_only.context["previous_id"], blocked_only.context["next_id"]) == (None, None)
    assert {okafors.pk, similar.pk} <= set(in_score_order)


def test_the_keyboard_shortcuts_script_is_served_and_wired(client, viewer, household, ken):
    detect()
    client.force_login(viewer)

    page = client.get(f"/queue/{candidate_of(*household).pk}/").content.decode()

    assert '<script src="/static/js/shortcuts.js" defer></script>' in page
    assert "onclick" not in page and "<script>" not in page


def test_a_merged_profile_in_the_group_shows_the_inactive_profile_panel(client, viewer,
                                                                        household):
    detect()
    maria, carlos = household
    survivor = write({"email": "survivor@example.com"}, "email").profile_id
    Profile.objects.filter(pk=carlos).update(status=Profile.Status.MERGED,
                                             merged_into_id=survivor)
    client.force_login(viewer)

    page = client.get(f"/queue/{candidate_of(*household).pk}/").content.decode()

    inactive = panel(page, "inactive_profile")
    assert f"Profile {carlos} is a tombstone merged into" in inactive
    assert f'href="/profiles/{survivor}/"' in inactive


def test_a_previous_dismissal_panel_says_who_when_and_why(client, viewer, steward, household):
    detect()
    maria, carlos = household
    dismiss_candidate(candidate=candidate_of(maria, carlos), reason="a married couple",
                      actor=steward)
    write({"email": "maria.garcia@example.com", "phone": "(917) 555-0123"}, "email")
    write({"loyalty_card": "LC-40018", "phone": "(917) 555-0123"}, "loyalty_card")
    detect()
    reopened = candidate_of(maria, carlos)
    client.force_login(viewer)

    page = client.get(f"/queue/{reopened.pk}/").content.decode()

    dismissed = panel(page, "previously_dismissed")
    assert "steward recorded profiles" in dismissed and "a married couple" in dismissed


def test_a_merge_in_progress_panel_names_the_job(client, viewer, ken):
    detect()
    online, till = ken
    job = MergeJob.objects.create(survivor_id=online, merged_profile_ids=[till])
    client.force_login(viewer)

    page = client.get(f"/queue/{candidate_of(*ken).pk}/").content.decode()

    assert f"Merge job {job.pk} is queued" in panel(page, "merge_in_progress")


def test_the_merge_page_is_for_those_who_may_merge(client, viewer, steward, ken):
    detect()
    okafors = candidate_of(*ken)

    client.force_login(viewer)
    assert client.get(f"/queue/{okafors.pk}/merge/").status_code == 403
    client.force_login(steward)
    assert client.get(f"/queue/{okafors.pk}/merge/").status_code == 200


def test_an_unknown_candidate_is_a_404(client, viewer):
    client.force_login(viewer)

    assert client.get("/queue/999999/").status_code == 404


def test_the_review_page_takes_a_fixed_number_of_queries(
    client, viewer, household, django_assert_num_queries
):
    detect()
    pair = candidate_of(*household)
    for n in range(3):
        write({"email": f"g{n}@example.com", "phone": "(212) 555-0191"}, "email")
    detect()
    trio = DuplicateCandidate.objects.exclude(pk=pair.pk).get()
    client.force_login(viewer)

    with django_assert_num_queries(18):
        client.get(f"/queue/{pair.pk}/")
    with django_assert_num_queries(18):
        client.get(f"/queue/{trio.pk}/")
