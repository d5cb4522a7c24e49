"""The state `identity.candidates.blocking` judges, read from the database.

`group_states` serves the queue, the review page, the API and the export: four queries for any
number of candidates. `group_state_for_profiles` serves a group not saved as a candidate (the
merge confirmation page, the merge task re-checking inside its transaction), and
`group_states_for_profile_groups` the groups detection is about to save: five queries.
"""

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import Count, OuterRef

from identity import hooks
from identity.candidates.blocking import DismissalState, GroupState, IdentifierState, ProfileState
from identity.models import CandidateMember, DuplicateCandidate, Identifier
from profiles.models import Profile


def group_states(candidate_ids):
    """{candidate id: GroupState} for each id asked (an id without members: an empty group)."""
    candidate_ids = sorted(set(candidate_ids))
    if not candidate_ids:
        return {}
    members = {candidate_id: [] for candidate_id in candidate_ids}
    profiles = {}
    rows = CandidateMember.objects.filter(candidate_id__any=candidate_ids).values_list(
        "candidate_id", "profile_id", "profile__status", "profile__merged_into_id"
    )
    for candidate_id, profile_id, status, merged_into_id in rows:
        members[candidate_id].append(profile_id)
        profiles[profile_id] = (status, merged_into_id)
    return _states(members, profiles)


def group_state_for_profiles(profile_ids, *, excluding_job_id=None):
    """The GroupState of these profiles (those that exist).

    The merge task passes its own job as `excluding_job_id`: the job running the merge is not a
    merge in progress that blocks it.
    """
    return group_states_for_profile_groups([profile_ids], excluding_job_id=excluding_job_id)[0]


def group_states_for_profile_groups(groups, *, excluding_job_id=None):
    """The GroupStates of these groups of profile ids (of those that exist), in order.

    Detection judges the groups it is about to save as candidates with this: five queries for
    any number of groups.
    """
    rows = Profile.objects.filter(pk__any={pk for group in groups for pk in group}).values_list(
        "pk", "status", "merged_into_id"
    )
    profiles = {pk: (status, merged_into_id) for pk, status, merged_into_id in rows}
    members = {index: [pk for pk in group if pk in profiles] for index, group in enumerate(groups)}
    states = _states(members, profiles, excluding_job_id=excluding_job_id)
    return [states[index] for index in range(len(groups))]


def _states(members, profiles, *, excluding_job_id=None):
    """GroupStates for {key: [profile id]}, given {profile id: (status, merged_into_id)}."""
    ids = sorted(profiles)
    identifiers = {pk: [] for pk in ids}
    rows = (
        Identifier.objects.filter(profile_id__any=ids)
        .order_by("profile_id", "type__key", "-is_current", "value")
        .values_list(
            "profile_id", "type__key", "type__label", "value", "is_current", "grants_access",
            "type__do_not_merge",
        )
    )
    for profile_id, *fields in rows:
        identifiers[profile_id].append(IdentifierState(*fields))
    states = {
        pk: ProfileState(pk, status, merged_into_id, tuple(identifiers[pk]))
        for pk, (status, merged_into_id) in profiles.items()
    }
    dismissals = _dismissals(ids)
    jobs = hooks.jobs_in_progress(ids, excluding_job_id=excluding_job_id)

    groups = {}
    for key, profile_ids in members.items():
        group_ids = set(profile_ids)
        groups[key] = GroupState(
            profiles=tuple(states[pk] for pk in sorted(group_ids)),
            dismissals=tuple(d for d in dismissals if len(d.profile_ids & group_ids) >= 2),
            jobs=tuple(j for j in jobs if j.profile_ids & group_ids),
        )
    return groups


def _dismissals(profile_ids):
    """Candidates a steward dismissed that hold two or more of these profiles.

    `dismissed_at` marks them whatever their status now: a dismissal stays on record when new
    evidence reopens the candidate (SPEC 4), and still blocks the merge.
    """
    sharing = (
        CandidateMember.objects.filter(profile_id__any=profile_ids)
        .values("candidate_id")
        .annotate(shared=Count("id"))
        .filter(shared__gte=2)
        .values("candidate_id")
    )
    rows = (
        DuplicateCandidate.objects.filter(dismissed_at__isnull=False, pk__in=sharing)
        .annotate(
            members=ArraySubquery(
                CandidateMember.objects.filter(candidate=OuterRef("pk")).values("profile_id")
            )
        )
        .order_by("dismissed_at", "pk")
        .values_list("pk", "members", "dismissed_by__username", "dismissed_at", "dismiss_reason")
    )
    return [
        DismissalState(pk, frozenset(members), by or "", at, reason)
        for pk, members, by, at, reason in rows
    ]
