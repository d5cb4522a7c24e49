"""Stewards see words, not codes (SPEC 8): every page of the demo data a steward opens is
scanned for reason codes, identifier-type keys, rule names, permissions and bare "#12"s; a code
may only follow its words in small print (<small>)."""

import re
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from identity.candidates.blocking import (
    ACCESS_CONTACT_MISMATCH,
    INACTIVE_PROFILE,
    MERGE_IN_PROGRESS,
    PREVIOUSLY_DISMISSED,
    UNIQUE_ID_CONFLICT,
)
from identity.models import CandidateMember, DuplicateCandidate, IdentifierType
from tests.factories import write
from tests.identity.conftest import candidate_of, detect

CODES = [
    UNIQUE_ID_CONFLICT, ACCESS_CONTACT_MISMATCH, PREVIOUSLY_DISMISSED, INACTIVE_PROFILE,
    MERGE_IN_PROGRESS,
    "shared_value", "similar_people", "group_size_limit",
    "clear_identifier", "change_type_setting", "merge_anyway", "review_survivor", "wait_for_job",
    "first_name", "last_name", "date_of_birth",
    "do_not_merge", "can_grant_access", "single_valued", "auto_merge",
]
PERMISSION = re.compile(r"\b(?:identity|merges|profiles|auth)\.[a-z_]+\b")
BARE_NUMBER = re.compile(r"#\d+")
HIDDEN = {"small", "script", "style", "head", "template"}


class VisibleText(HTMLParser):
    """The text a reader sees in full size: not in <small>, scripts, styles or the head."""

    def __init__(self):
        super().__init__()
        self.hidden = 0
        self.parts = []

    def handle_starttag(self, tag, attrs):
        if tag in HIDDEN:
            self.hidden += 1

    def handle_endtag(self, tag):
        if tag in HIDDEN and self.hidden:
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def visible_text(html):
    parser = VisibleText()
    parser.feed(html)
    return " ".join(parser.parts)


def codes_in(html, keys):
    text = visible_text(html)
    found = [code for code in [*CODES, *keys] if re.search(rf"\b{re.escape(code)}\b", text)]
    found += PERMISSION.findall(text) + BARE_NUMBER.findall(text)
    return found


@pytest.fixture
def demo(db, capsys):
    call_command("seed_demo", profiles=20)
    capsys.readouterr()
    return DuplicateCandidate.objects.order_by("pk")


def steward_pages(demo):
    candidates = list(demo)
    pages = ["/", "/queue/", "/queue/?blocked=yes", "/queue/?status=dismissed",
             "/queue/?status=merged", "/queue/?status=superseded", "/queue/?sort=score",
             "/profiles/?q=Garcia", "/profiles/?q=Doe"]
    pages += [f"/queue/?reason={code}" for code in (UNIQUE_ID_CONFLICT, ACCESS_CONTACT_MISMATCH,
                                                    PREVIOUSLY_DISMISSED)]
    pages += [f"/queue/{c.pk}/?status={c.status}" for c in candidates]
    members = {}
    for candidate_id, profile_id in CandidateMember.objects.values_list(
        "candidate_id", "profile_id"
    ).order_by("profile_id"):
        members.setdefault(candidate_id, []).append(profile_id)
    for candidate in candidates:
        first, second, *_ = members[candidate.pk]
        pages += [f"/profiles/{first}/", f"/compare/?a={first}&b={second}"]
    return pages


@pytest.mark.parametrize("username", ["steward", "senior"])
def test_no_page_of_the_demo_shows_a_steward_a_code(client, demo, username):
    keys = [key for key in IdentifierType.objects.values_list("key", flat=True) if "_" in key]
    client.force_login(User.objects.get(username="steward"))
    decided = demo.filter(blocking_codes=[]).first()
    client.post(f"/queue/{decided.pk}/dismiss/", {"reason": "twins"})  # a decided one too
    client.force_login(User.objects.get(username=username))

    found = {}
    for url in steward_pages(demo):
        response = client.get(url, follow=True)
        assert response.status_code == 200, url
        if codes := codes_in(response.content.decode(), keys):
            found[url] = sorted(set(codes))

    assert found == {}, "\n".join(f"{url}: {codes}" for url, codes in found.items())


def test_the_scan_finds_a_code_outside_small_print():
    page = ('<p>Blocked <span>unique_id_conflict</span> for profile #12</p>'
            '<p>Different loyalty cards <small class="code">unique_id_conflict</small></p>'
            '<p>Needs merges.override_blocking_reason</p>')

    assert codes_in(page, ["loyalty_card"]) == [
        "unique_id_conflict", "merges.override_blocking_reason", "#12",
    ]
    assert codes_in('<p>Different loyalty cards <small>loyalty_card</small></p>',
                    ["loyalty_card"]) == []


def test_a_dismissed_candidate_shows_its_decision_not_a_blocked_badge(client, steward):
    maria = write({"email": "maria@example.com", "phone": "(212) 555-0142"}, "email").profile_id
    carlos = write({"email": "carlos@example.com", "phone": "+1 212 555 0142"},
                   "email").profile_id
    detect()
    candidate = candidate_of(maria, carlos)
    client.force_login(steward)
    client.post(f"/queue/{candidate.pk}/dismiss/", {"reason": "brothers"})

    row = client.get("/queue/", {"status": "dismissed"}).content.decode()
    review = client.get(f"/queue/{candidate.pk}/").content.decode()

    assert "Not a duplicate" in row and "decided by steward" in row
    assert 'class="badge blocked"' not in row and "is-blocked" not in row
    assert "decided not a duplicate by steward" in review
    assert 'class="badge blocked"' not in review
    assert "What would block merging them now" in review


def test_candidates_and_profiles_are_written_out_not_numbered(client, steward):
    maria = write({"email": "maria@example.com", "phone": "(212) 555-0142",
                   "first_name": "Maria"}, "email").profile_id
    carlos = write({"email": "carlos@example.com", "phone": "+1 212 555 0142"},
                   "email").profile_id
    detect()
    candidate = candidate_of(maria, carlos)
    client.force_login(steward)

    queue = client.get("/queue/").content.decode()
    review = client.get(f"/queue/{candidate.pk}/").content.decode()
    claimed = client.post(f"/queue/{candidate.pk}/claim/", follow=True).content.decode()

    assert f">Candidate {candidate.pk}</a>" in queue and f"profile {maria}" in queue
    assert f"Suspected duplicate: candidate {candidate.pk}" in review
    assert f"Profile {maria}</a>" in review
    assert f"You claimed candidate {candidate.pk}." in claimed


def test_a_candidate_marked_for_automatic_merge_says_so(client, steward):
    known = write({"email": "ana@example.com", "anonymous_id": "anon-1"}, "email").profile_id
    other = write({"anonymous_id": "anon-2"}, "anonymous_id").profile_id
    write({"email": "ana@example.com", "anonymous_id": "anon-2"}, "email")
    candidate = candidate_of(known, other)
    assert candidate.auto_merge
    client.force_login(steward)

    row = client.get("/queue/").content.decode()
    review = client.get(f"/queue/{candidate.pk}/").content.decode()

    assert "Marked for automatic merge" in row
    assert "marked for automatic merge" in review
