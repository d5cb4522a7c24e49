"""Every state-changing view, command and API call writes its audit entry (SPEC 7).

WALK names each of them with a step that does it as a person would (a form posted, a command
run, an API call made) and the action it must record. A new URL or command fails
`test_every_url_and_command_is_walked_or_said_not_to_change_anything` until it is added to
WALK, or to READ_ONLY / NOT_AUDITED with the reason.
"""

import io
import json
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command, get_commands
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from identity.api.tokens import create_api_token
from identity.candidates.lifecycle import (
    claim_candidate,
    dismiss_candidate,
    open_collision_candidate,
)
from identity.models import ApiToken, DuplicateCandidate, Identifier, IdentifierType
from merges.audit.chain import verify_chain
from merges.models import AuditEntry
from merges.services import execute_merge, fail_stuck_job, request_merge
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db

# Pages and API calls that change nothing.
READ_ONLY = {
    "dashboard", "queue", "queue_export", "review", "identifier_types", "identifier_type_job",
    "identifier_type_preview", "merge_list", "merge_detail", "audit_list", "audit_export",
    "audit_detail", "profile_search", "profile_detail", "healthz", "login", "logout",
    "api_lookup", "api_profile", "api_candidates", "api_identifier_types",
    "api_identifier_type_preview", "api_openapi", "api_merge", "compare", "compare_suggestions",
    "api_compare", "api_erasures",
}
# What changes state without being a steward's or the system's decision (SPEC 7).
NOT_AUDITED = {
    "api_upsert": "customer data arriving; the merges it leads to are audited as merges",
    "api_batch": "customer data arriving, as api_upsert",
    "import_profiles": "customer data arriving, as api_upsert",
    "detect_duplicates": "suggestions; a dismissed group it reopens is audited as reopened",
    "export_candidates": "reads",
    "seed_demo": "demo data",
    "verify_audit": "reads the chain; its result is kept for /healthz, not in the chain",
}
PROJECT_APPS = ("identity", "merges", "profiles")


@dataclass(frozen=True)
class Step:
    does: object  # (world) -> None
    records: str  # the action code it must write


def _world(steward, senior, admin, household, ken, client):
    maria, carlos = household
    online, till = ken
    candidate = DuplicateCandidate.objects.create()
    candidate.profiles.set([online, till])
    return SimpleNamespace(
        client=client, steward=steward, senior=senior, admin=admin, maria=maria, carlos=carlos,
        online=online, till=till, candidate=candidate,
    )


def _as(w, user):
    w.client.force_login(user)
    return w.client


def _post(w, user, url, data=None, **extra):
    response = _as(w, user).post(url, data or {}, **extra)
    assert response.status_code in (200, 302), (url, response.status_code)
    return response


def _email_of(profile_id):
    return Identifier.objects.get(profile_id=profile_id, type__key="email")


def _api(w, user, method, url, body):
    token = create_api_token(name=f"walk-{user.username}", user=user)
    call = getattr(w.client, method)
    response = call(url, data=json.dumps(body), content_type="application/json",
                    headers={"Authorization": f"Bearer {token}"})
    assert response.status_code < 300, (url, response.status_code, response.content)


def _type_form(type_, **changes):
    data = {"label": type_.label, "normaliser": type_.normaliser, "priority": type_.priority,
            "reason": "the walk"}
    for flag in ("unique", "single_valued", "do_not_merge", "can_grant_access", "matchable",
                 "auto_merge"):
        if getattr(type_, flag):
            data[flag] = "on"
    for name, value in changes.items():
        if value is True:
            data[name] = "on"
        elif value is False:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def _admin_user_change(w, user, groups):
    return _post(w, w.admin, f"/admin/auth/user/{user.pk}/change/", {
        "username": user.username, "first_name": "", "last_name": "", "email": "",
        "is_active": "on", "groups": [g.pk for g in groups],
        "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
        "initial-date_joined_0": "2026-01-01", "initial-date_joined_1": "00:00:00",
    })


def _merge_job(w):
    return request_merge(profile_ids=[w.online, w.till], actor=w.steward)


def _command(*args):
    call_command(*args, stdout=io.StringIO())


WALK = {
    # -- pages
    "candidate_claim": Step(
        lambda w: _post(w, w.steward, f"/queue/{w.candidate.pk}/claim/"), "candidate.claimed"),
    "candidate_unclaim": Step(
        lambda w: (claim_candidate(candidate=w.candidate, actor=w.steward),
                   _post(w, w.steward, f"/queue/{w.candidate.pk}/unclaim/")),
        "candidate.unclaimed"),
    "candidate_dismiss": Step(
        lambda w: _post(w, w.steward, f"/queue/{w.candidate.pk}/dismiss/", {"reason": "twins"}),
        "candidate.dismissed"),
    "queue_dismiss": Step(
        lambda w: _post(w, w.steward, "/queue/dismiss/",
                        {"candidate": w.candidate.pk, "reason": "twins"}),
        "candidate.dismissed"),
    "identifier_edit": Step(
        lambda w: _post(w, w.steward, f"/identifiers/{_email_of(w.maria).pk}/edit/",
                        {"raw_value": "maria@example.org", "reason": "she wrote"}),
        "identifier.edited"),
    "identifier_remove": Step(
        lambda w: _post(w, w.steward, f"/identifiers/{_email_of(w.maria).pk}/remove/",
                        {"reason": "not hers"}),
        "identifier.removed"),
    "identifier_type_edit": Step(
        lambda w: _post(w, w.senior, "/settings/identifier-types/customer_id/",
                        _type_form(IdentifierType.objects.get(key="customer_id"),
                                   priority=7)),
        "identifier_type.changed"),
    "identifier_type_add": Step(
        lambda w: _post(w, w.admin, "/settings/identifier-types/add/",
                        {"key": "member_no", "label": "Member number", "normaliser": "trim",
                         "priority": 6, "reason": "the club's cards"}),
        "identifier_type.added"),
    "candidate_merge": Step(
        lambda w: _post(w, w.steward, f"/queue/{w.candidate.pk}/merge/",
                        {"confirmation": "MERGE"}),
        "merge.requested"),
    "profiles_merge": Step(
        lambda w: _post(w, w.steward, f"/merges/new/?profiles={w.online},{w.till}",
                        {"confirmation": "MERGE"}),
        "merge.requested"),
    "profile_erase": Step(
        lambda w: _post(w, w.admin, f"/profiles/{w.carlos}/erase/",
                        {"reason": "ticket 5", "confirmation": "ERASE"}),
        "person.erased"),
    # -- API
    "api_merges": Step(
        lambda w: _api(w, w.steward, "post", "/api/v1/merges",
                       {"profileIds": [w.online, w.till]}),
        "merge.requested"),
    "api_identifier_type": Step(
        lambda w: _api(w, w.senior, "patch", "/api/v1/identifier-types/customer_id",
                       {"changes": {"priority": 8}, "reason": "the walk"}),
        "identifier_type.changed"),
    # -- commands
    "create_api_token": Step(lambda w: _command("create_api_token", "shop"), "api_token.created"),
    "revoke_api_token": Step(
        lambda w: (create_api_token(name="shop"), _command("revoke_api_token", "shop")),
        "api_token.revoked"),
    "erase_person": Step(
        lambda w: _command("erase_person", str(w.maria), "--reason", "ticket 6"),
        "person.erased"),
    # -- the Django admin
    "admin: add a user": Step(
        lambda w: _post(w, w.admin, "/admin/auth/user/add/", {
            "username": "newcomer", "usable_password": "true",
            "password1": PASSWORD, "password2": PASSWORD}),
        "user.added"),
    "admin: give a user a role": Step(
        lambda w: _admin_user_change(w, make_user("temp"), [Group.objects.get(name="steward")]),
        "user.roles_changed"),
    "admin: change a password": Step(
        lambda w: _post(w, w.admin, f"/admin/auth/user/{w.steward.pk}/password/",
                        {"password1": PASSWORD + "!", "password2": PASSWORD + "!",
                         "usable_password": "true"}),
        "user.password_changed"),
    "admin: delete a user": Step(
        lambda w: _post(w, w.admin, f"/admin/auth/user/{make_user('leaver').pk}/delete/",
                        {"post": "yes"}),
        "user.deleted"),
    "admin: change a role's permissions": Step(
        lambda w: _post(w, w.admin, f"/admin/auth/group/{Group.objects.get(name='viewer').pk}"
                                    "/change/", {"name": "viewer", "permissions": []}),
        "role.changed"),
    "admin: revoke an API token": Step(
        lambda w: (create_api_token(name="till"),
                   _post(w, w.admin, "/admin/identity/apitoken/",
                         {"action": "revoke",
                          "_selected_action": [ApiToken.objects.get(name="till").pk]})),
        "api_token.revoked"),
    # -- the system
    "a merge runs": Step(lambda w: execute_merge(_merge_job(w).pk), "merge.succeeded"),
    "a merge fails for good": Step(
        lambda w: fail_stuck_job(_merge_job(w).pk, "the worker gave up"), "merge.failed"),
    "a blocked group merged anyway": Step(
        lambda w: request_merge(
            profile_ids=[w.maria, w.carlos], actor=w.senior,
            justifications={"unique_id_conflict": "one card was lost", 
                            "access_contact_mismatch": "she uses both"}),
        "merge.override"),
    "new evidence reopens a dismissed group": Step(
        lambda w: (dismiss_candidate(candidate=w.candidate, reason="twins", actor=w.steward),
                   open_collision_candidate(
                       w.online, w.till, type_=IdentifierType.objects.get(key="loyalty_card"),
                       value="LC-1", observed_at=timezone.now())),
        "candidate.reopened"),
}


def _url_names(resolver=None):
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.app_name == "admin":
                continue
            yield from _url_names(pattern)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield pattern.name


def test_every_url_and_command_is_walked_or_said_not_to_change_anything():
    commands = {name for name, app in get_commands().items() if app in PROJECT_APPS}
    known = set(WALK) | READ_ONLY | set(NOT_AUDITED)
    assert sorted(set(_url_names()) - known) == []
    assert sorted(commands - known) == []


@pytest.mark.parametrize("name", list(WALK))
def test_each_action_writes_its_entry(name, steward, senior, admin, household, ken, client):
    step = WALK[name]
    world = _world(steward, senior, admin, household, ken, client)
    before = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0

    step.does(world)

    written = list(AuditEntry.objects.filter(id__gt=before).values_list("action", flat=True))
    assert step.records in written
    assert verify_chain().passed

