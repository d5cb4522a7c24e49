"""Reads of profiles and identifiers, shaped for the API and pages."""

from identity.blocking import blocking_reasons
from identity.models import DuplicateCandidate, Identifier
from identity.states import group_states
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


def candidate_pages(*, status=None, after=0, page_size=100):
    """Candidates in id order from `after` on, a page at a time, as JSON-ready dicts.

    Each page takes a fixed number of queries (the candidates, their group states), whatever
    its size.
    """
    while True:
        page = candidates_after(status=status, after=after, limit=page_size)
        if not page:
            return
        yield page
        after = page[-1]["id"]


def candidates_after(*, status=None, after=0, limit=100):
    queryset = DuplicateCandidate.objects.filter(pk__gt=after).order_by("pk")
    if status:
        queryset = queryset.filter(status=status)
    candidates = list(queryset[:limit])
    states = group_states([c.pk for c in candidates])
    return [candidate_json(c, states[c.pk]) for c in candidates]


def candidate_json(candidate, state):
    return {
        "id": candidate.pk,
        "status": candidate.status,
        "score": candidate.score,
        "autoMerge": candidate.auto_merge,
        "createdAt": candidate.created_at.isoformat(),
        "updatedAt": candidate.updated_at.isoformat(),
        "profileIds": sorted(profile.id for profile in state.profiles),
        "evidence": candidate.evidence,
        "blockingReasons": [
            {
                "code": reason.code,
                "title": reason.title,
                "evidence": reason.evidence,
                "rule": reason.rule,
                "remedies": [
                    {"code": r.code, "text": r.text, "permission": r.permission}
                    for r in reason.remedies
                ],
            }
            for reason in blocking_reasons(state)
        ],
    }
