"""Services that change candidates and profiles; each writes its audit entry in its transaction."""

from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from identity.blocking_codes import refresh_blocking_codes_of_profiles
from identity.locks import lock_key
from identity.models import DuplicateCandidate, Identifier
from identity.normalisers import InvalidValue, normalise
from identity.tasks import detect_for_profiles
from merges import audit
from profiles.models import Profile


class CannotDismiss(Exception):
    pass


class CannotClaim(Exception):
    pass


class CannotChangeIdentifier(Exception):
    pass


@transaction.atomic
def dismiss_candidate(*, candidate, reason, actor):
    """Record a group as "not a duplicate": it is not suggested again for the same profiles
    unless new evidence appears (detection reopens it then)."""
    reason = (reason or "").strip()
    if not reason:
        raise CannotDismiss("say why these are different people")
    candidate = DuplicateCandidate.objects.select_for_update().get(pk=candidate.pk)
    if candidate.status != DuplicateCandidate.Status.OPEN:
        raise CannotDismiss(f"candidate {candidate.pk} is {candidate.status}, not open")
    now = timezone.now()
    before = {"status": candidate.status}
    candidate.status = DuplicateCandidate.Status.DISMISSED
    candidate.dismissed_by = actor
    candidate.dismissed_at = now
    candidate.dismiss_reason = reason
    candidate.closed_at = now
    candidate.updated_at = now
    candidate.save(update_fields=["status", "dismissed_by", "dismissed_at", "dismiss_reason",
                                  "closed_at", "updated_at"])
    profile_ids = sorted(candidate.profiles.values_list("pk", flat=True))
    audit.record(
        actor=actor, action="candidate.dismissed",
        targets={"candidate": candidate.pk, "profiles": profile_ids},
        before=before, after={"status": candidate.status, "reason": reason},
    )
    # Other open groups holding two of these profiles are now "previously dismissed".
    refresh_blocking_codes_of_profiles(profile_ids)
    return candidate


@transaction.atomic
def dismiss_candidates(*, candidate_ids, reason, actor):
    """Bulk "not a duplicate" with one reason: each open candidate is dismissed (and audited) as
    by dismiss_candidate. Returns (dismissed ids, skipped ids: not open or not found)."""
    if not (reason or "").strip():
        raise CannotDismiss("say why these are different people")
    ids = sorted({int(pk) for pk in candidate_ids})
    if not ids:
        raise CannotDismiss("choose the suspected duplicates to dismiss")
    locked = DuplicateCandidate.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    open_ids = [c.pk for c in locked if c.status == DuplicateCandidate.Status.OPEN]
    for pk in open_ids:
        dismiss_candidate(candidate=DuplicateCandidate(pk=pk), reason=reason, actor=actor)
    return open_ids, [pk for pk in ids if pk not in open_ids]


@transaction.atomic
def claim_candidate(*, candidate, actor):
    """Take an open candidate to review: the queue shows who has it."""
    candidate = DuplicateCandidate.objects.select_for_update().get(pk=candidate.pk)
    if candidate.status != DuplicateCandidate.Status.OPEN:
        raise CannotClaim(f"candidate {candidate.pk} is {candidate.status}, not open")
    if candidate.assignee_id == actor.pk:
        return candidate
    if candidate.assignee_id is not None:
        raise CannotClaim(
            f"candidate {candidate.pk} is claimed by {candidate.assignee.get_username()}"
        )
    candidate.assignee = actor
    candidate.save(update_fields=["assignee"])
    audit.record(
        actor=actor, action="candidate.claimed", targets={"candidate": candidate.pk},
        before={"assignee": None}, after={"assignee": actor.get_username()},
    )
    return candidate


@transaction.atomic
def unclaim_candidate(*, candidate, actor):
    """Give a claimed candidate back to the queue; only the steward who claimed it may."""
    candidate = DuplicateCandidate.objects.select_for_update().get(pk=candidate.pk)
    if candidate.assignee_id is None:
        return candidate
    if candidate.assignee_id != actor.pk:
        raise CannotClaim(
            f"candidate {candidate.pk} is claimed by {candidate.assignee.get_username()}"
        )
    candidate.assignee = None
    candidate.save(update_fields=["assignee"])
    audit.record(
        actor=actor, action="candidate.unclaimed", targets={"candidate": candidate.pk},
        before={"assignee": actor.get_username()}, after={"assignee": None},
    )
    return candidate


@transaction.atomic
def edit_identifier(*, identifier, raw_value, grants_access, reason, actor):
    """Correct an identifier's value (normalised by its type, as writes are) or its account
    access, with the steward's reason."""
    reason = _reason(reason)
    identifier = _lock_identifier(identifier, also=raw_value)
    type_ = identifier.type
    try:
        value = normalise(type_.normaliser, raw_value)
    except InvalidValue as error:
        raise CannotChangeIdentifier(str(error)) from None
    raw_value = raw_value.strip()
    if grants_access and not type_.can_grant_access:
        raise CannotChangeIdentifier(f"{type_.label} values cannot grant account access")
    if (value, raw_value, grants_access) == (
        identifier.value, identifier.raw_value, identifier.grants_access
    ):
        raise CannotChangeIdentifier("nothing to change")
    others = Identifier.objects.filter(type=type_, value=value).exclude(pk=identifier.pk)
    if others.filter(profile_id=identifier.profile_id).exists():
        raise CannotChangeIdentifier(f"the profile already holds {type_.key} {value}")
    holder = others.filter(is_current=True, is_unique=True).first()
    if identifier.is_current and identifier.is_unique and holder is not None:
        raise CannotChangeIdentifier(
            f"{type_.key} {value} belongs to profile {holder.profile_id}"
        )
    before = _identifier_snapshot(identifier)
    identifier.value, identifier.raw_value = value, raw_value
    identifier.grants_access = grants_access
    identifier.save(update_fields=["value", "raw_value", "grants_access"])
    audit.record(
        actor=actor, action="identifier.edited",
        targets={"profile": identifier.profile_id, "identifier": identifier.pk},
        before=before, after={**_identifier_snapshot(identifier), "reason": reason},
    )
    _identifiers_changed(identifier.profile_id)
    return identifier


@transaction.atomic
def remove_identifier(*, identifier, reason, actor):
    """Take an identifier off its profile, with the steward's reason; a unique value is then
    free for the profile it belongs to."""
    reason = _reason(reason)
    identifier = _lock_identifier(identifier)
    before = _identifier_snapshot(identifier)
    targets = {"profile": identifier.profile_id, "identifier": identifier.pk}
    identifier.delete()
    audit.record(
        actor=actor, action="identifier.removed", targets=targets,
        before=before, after={"reason": reason},
    )
    _identifiers_changed(targets["profile"])
    return before


def _reason(reason):
    reason = (reason or "").strip()
    if not reason:
        raise CannotChangeIdentifier("say why the identifier changes")
    return reason


def _lock_identifier(identifier, *, also=None):
    """Lock as writes do: the values' advisory locks, then the profile row, then the identifier.

    `also` is a raw value the identifier may take: its normalised form's lock is taken too, so a
    concurrent write cannot hand the same value to another profile meanwhile.
    """
    identifier = Identifier.objects.select_related("type").get(pk=identifier.pk)
    keys = {lock_key(identifier.type_id, identifier.value)}
    if also is not None:
        try:
            keys.add(lock_key(identifier.type_id, normalise(identifier.type.normaliser, also)))
        except InvalidValue:
            pass
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k", [sorted(keys)]
        )
    profile = Profile.objects.select_for_update().get(pk=identifier.profile_id)
    if profile.status != Profile.Status.ACTIVE:
        raise CannotChangeIdentifier(f"profile {profile.pk} is merged into another")
    return Identifier.objects.select_for_update().select_related("type").get(pk=identifier.pk)


def _identifier_snapshot(identifier):
    return {
        "type": identifier.type.key, "value": identifier.value, "raw_value": identifier.raw_value,
        "is_current": identifier.is_current, "grants_access": identifier.grants_access,
        "source": identifier.source,
    }


def _identifiers_changed(profile_id):
    refresh_blocking_codes_of_profiles([profile_id])
    if settings.DETECT_ON_WRITE:
        transaction.on_commit(partial(detect_for_profiles.delay, [profile_id]))
