"""A senior steward configures identifier types in real Chromium (SPEC 8a): the impact preview
updates as flags are toggled, a change is confirmed with a reason, the queue follows when the
background job ends, a change the data forbids is refused with a sample, and a steward is
refused by the page and the API."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from identity.api.tokens import create_api_token
from identity.candidates.blocking import UNIQUE_ID_CONFLICT
from identity.candidates.blocking_codes import refresh_blocking_codes
from identity.matching.detect import detect_all
from identity.models import DuplicateCandidate, Identifier, IdentifierType
from merges.models import AuditEntry
from tests.factories import write

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=20_000)
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".var" / "screenshots"
SCREENSHOTS.mkdir(parents=True, exist_ok=True)


@pytest.fixture
def cardholders(db):
    """Loyalty cards not yet "do not merge": four couples sharing a home phone, three with a
    card each; one couple where only one has a card."""
    IdentifierType.objects.filter(key="loyalty_card").update(do_not_merge=False)
    for n in range(3):
        for who in ("Ann", "Bob"):
            write({"loyalty_card": f"LC-{n}{who}", "phone": f"(212) 555-014{n}",
                   "first_name": who, "last_name": f"Family{n}"}, "loyalty_card")
    write({"loyalty_card": "LC-9", "phone": "(212) 555-0199", "first_name": "Cy",
           "last_name": "Single"}, "loyalty_card")
    write({"email": "dee@example.com", "phone": "212 555 0199", "first_name": "Dee",
           "last_name": "Single"}, "email")
    detect_all()
    refresh_blocking_codes(DuplicateCandidate.objects.values_list("pk", flat=True))


def open_candidates_with_two_different_cards():
    """Counted from the database, apart from the product's code."""
    count = 0
    for candidate in DuplicateCandidate.objects.filter(status="open"):
        cards = {}
        for profile_id, value in Identifier.objects.filter(
            profile__in=candidate.profiles.all(), type__key="loyalty_card", is_current=True
        ).values_list("profile_id", "value"):
            cards.setdefault(profile_id, set()).add(value)
        if len({frozenset(values) for values in cards.values()}) >= 2:
            count += 1
    return count


def test_a_senior_turns_do_not_merge_on_and_off_for_loyalty_cards(
    live_server, log_in, senior, cardholders, celery_worker
):
    expected = open_candidates_with_two_different_cards()
    assert expected == 3
    page = log_in(senior)
    page.get_by_role("link", name="Identifier types").click()
    expect(page.locator("#type-loyalty_card")).to_contain_text("Loyalty card")
    page.screenshot(path=str(SCREENSHOTS / "identifier-types.png"), full_page=True)
    page.locator("#type-loyalty_card").get_by_role("link", name="Edit").click()
    page.wait_for_url(re.compile(r"/settings/identifier-types/loyalty_card/$"))

    page.get_by_label("Do not merge customers with different IDs").check()

    expect(page.locator("#become-blocked")).to_have_text(str(expected))
    expect(page.locator("#type-impact")).to_contain_text("3 by “Different unique IDs”")
    expect(page.locator("#type-impact .sample-links a")).to_have_count(3)
    page.screenshot(path=str(SCREENSHOTS / "identifier-type-preview.png"), full_page=True)
    assert not IdentifierType.objects.get(key="loyalty_card").do_not_merge  # nothing saved yet

    page.get_by_label("Reason for the change").fill("Couples share a phone but never a card")
    page.get_by_role("button", name="Save change").click()

    expect(page.locator("#messages")).to_contain_text("Loyalty card saved.")
    expect(page.locator(".type-job").first).to_contain_text("Succeeded")
    page.goto(f"{live_server.url}/queue/?reason={UNIQUE_ID_CONFLICT}")
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(expected)
    expect(rows.first).to_contain_text(UNIQUE_ID_CONFLICT)

    page.goto(f"{live_server.url}/settings/identifier-types/loyalty_card/")
    page.get_by_label("Do not merge customers with different IDs").uncheck()
    expect(page.locator("#become-unblocked")).to_have_text(str(expected))
    page.get_by_label("Reason for the change").fill("Cards are reissued after all")
    page.get_by_role("button", name="Save change").click()
    expect(page.locator(".type-job").first).to_contain_text("Succeeded")
    page.goto(f"{live_server.url}/queue/?reason={UNIQUE_ID_CONFLICT}")
    expect(page.locator("table.queue tbody tr")).to_have_count(0)

    reasons = [entry.payload.data["after"]["reason"] for entry in
               AuditEntry.objects.filter(action="identifier_type.changed").order_by("id")]
    assert reasons == ["Couples share a phone but never a card", "Cards are reissued after all"]


def test_a_change_that_would_break_uniqueness_is_refused_with_a_sample(
    live_server, log_in, senior, cardholders
):
    page = log_in(senior)
    page.goto(f"{live_server.url}/settings/identifier-types/phone/")

    page.get_by_label("Unique", exact=True).check()

    refusal = page.locator("#type-refusal")
    expect(refusal).to_contain_text("Refused: nothing was changed.")
    expect(refusal).to_contain_text("+12125550140")
    page.screenshot(path=str(SCREENSHOTS / "identifier-type-refusal.png"), full_page=True)
    page.get_by_label("Reason for the change").fill("One phone each")
    page.get_by_role("button", name="Save change").click()
    expect(page.locator("#type-refusal")).to_contain_text("value(s) of Phone are held by")
    assert not IdentifierType.objects.get(key="phone").unique
    assert not AuditEntry.objects.filter(action="identifier_type.changed").exists()


def test_a_steward_is_refused_by_the_page_and_the_api(live_server, log_in, steward):
    page = log_in(steward)
    token = create_api_token(name="steward-ci", user=steward)

    page.goto(f"{live_server.url}/settings/identifier-types/")
    expect(page.locator("#type-loyalty_card")).to_be_visible()
    expect(page.locator("#type-loyalty_card").get_by_role("link", name="Edit")).to_have_count(0)
    response = page.goto(f"{live_server.url}/settings/identifier-types/loyalty_card/")
    assert response.status == 403
    expect(page.locator(".refusal")).to_contain_text("identity.change_identifiertype")
    api = page.request.patch(
        f"{live_server.url}/api/v1/identifier-types/loyalty_card",
        data={"changes": {"do_not_merge": False}, "reason": "try"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert api.status == 403
    assert "identity.change_identifiertype" in api.json()["error"]["message"]


def test_a_normaliser_change_lists_the_values_that_no_longer_validate(
    live_server, log_in, senior, celery_worker
):
    IdentifierType.objects.create(key="member_no", label="Member number", priority=6)
    write({"email": "ann@example.com", "member_no": " Ann@Example.com"}, "email")
    bob = write({"email": "bob@example.com", "member_no": "M-0042"}, "email").profile_id
    page = log_in(senior)
    page.goto(f"{live_server.url}/settings/identifier-types/member_no/")

    page.get_by_label("Normaliser").select_option("email")
    expect(page.locator("#values-to-renormalise")).to_have_text("2")
    page.get_by_label("Reason for the change").fill("Member numbers are emails now")
    page.get_by_role("button", name="Save change").click()

    job = page.locator(".type-job").first
    expect(job).to_contain_text("Succeeded")
    expect(job.locator("table.problems")).to_contain_text("M-0042")
    expect(job.locator("table.problems")).to_contain_text("is not a valid email address")
    expect(job.locator("table.problems")).to_contain_text(f"profile {bob}")
    page.screenshot(path=str(SCREENSHOTS / "identifier-type-renormalised.png"), full_page=True)
    assert Identifier.objects.get(profile_id=bob, type__key="member_no").value == "M-0042"
    assert Identifier.objects.get(type__key="member_no", value="ann@example.com")
