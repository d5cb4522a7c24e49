"""A steward's edits of identifiers: correcting a value or its account access, or removing it,
with a reason. Each takes the same locks as writes, is audited in its transaction and tells
`identity.changes.profiles_changed`.
"""

from django.db import connection, transaction

from identity import hooks
from identity.changes import profiles_changed
from identity.locks import lock_key
from identity.models import Identifier
from identity.normalisers import InvalidValue, normalise
from identity.writing.parsing import value_problem
from profiles.models import Profile
from profiles.text import unstorable


class CannotChangeIdentifier(Exception):
    pass


@transaction.atomic
def edit_identifier(*, identifier, raw_value, grants_access, reason, actor):
    """Correct an identifier's value (normalised by its type, as writes are) or its account
    access, with the steward's reason."""
    reason = _reason(reason)
    if problem := value_problem(raw_value):
        raise CannotChangeIdentifier(f"the value {problem}")
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
    hooks.record_action(
        actor=actor, action="identifier.edited",
        targets={"profile": identifier.profile_id, "identifier": identifier.pk},
        before=before, after={**_identifier_snapshot(identifier), "reason": reason},
    )
    profiles_changed([identifier.profile_id])
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
    hooks.record_action(
        actor=actor, action="identifier.removed", targets=targets,
        before=before, after={"reason": reason},
    )
    profiles_changed([targets["profile"]])
    return before


def _reason(reason):
    reason = (reason or "").strip()
    if not reason:
        raise CannotChangeIdentifier("say why the identifier changes")
    if problem := unstorable(reason):
        raise CannotChangeIdentifier(f"the reason {problem}")
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
