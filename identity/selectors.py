"""Reads of profiles and identifiers, shaped for the API and pages."""

from identity.models import Identifier
from profiles.models import Profile


def survivor_of(profile):
    """The active profile a merged one ended in (following a chain, should one remain)."""
    seen = set()
    while profile.status == Profile.Status.MERGED and profile.pk not in seen:
        seen.add(profile.pk)
        profile = Profile.objects.get(pk=profile.merged_into_id)
    return profile


def profile_holding(type_, value):
    """The active profile holding a normalised value: its current holder, else a previous one."""
    identifier = (
        Identifier.objects.filter(
            type=type_, value=value, profile__status=Profile.Status.ACTIVE
        )
        .select_related("profile")
        .order_by("-is_current", "-last_seen")
        .first()
    )
    return identifier.profile if identifier else None


def profile_json(profile):
    identifiers = profile.identifiers.select_related("type").order_by(
        "type__priority", "type__key", "-is_current", "first_seen", "id"
    )
    return {
        "id": profile.pk,
        "status": profile.status,
        "createdAt": profile.created_at.isoformat(),
        "updatedAt": profile.updated_at.isoformat(),
        "attributes": {
            name: {"value": held["v"], "observedAt": held["t"]}
            for name, held in sorted(profile.attributes.items())
        },
        "identifiers": [
            {
                "type": identifier.type.key,
                "value": identifier.value,
                "rawValue": identifier.raw_value,
                "current": identifier.is_current,
                "grantsAccess": identifier.grants_access,
                "source": identifier.source,
                "firstSeen": identifier.first_seen.isoformat(),
                "lastSeen": identifier.last_seen.isoformat(),
            }
            for identifier in identifiers
        ],
    }
