"""Why a group of profiles may not be merged (SPEC section 5): a plain function of their state.

`blocking_reasons(group)` takes a `GroupState` (frozen dataclasses, built by
`identity.candidates.states` from the database or by hand in tests) and returns the
`BlockingReason`s that apply, in a fixed order: the codes in the order of SPEC 5's table, then
by type, time, profile or job. The queue, the review page, the API, the export and the merge
task all call it, so a steward sees the same reasons the merge re-checks.

Evidence holds plain JSON values (text, numbers, lists, dicts; times in ISO 8601), so a reason
can be stored with a merge job as it was acknowledged (`dataclasses.asdict`) and compared with
the reasons found again when the job runs.
"""

from dataclasses import dataclass
from datetime import datetime

UNIQUE_ID_CONFLICT = "unique_id_conflict"
ACCESS_CONTACT_MISMATCH = "access_contact_mismatch"
PREVIOUSLY_DISMISSED = "previously_dismissed"
INACTIVE_PROFILE = "inactive_profile"
MERGE_IN_PROGRESS = "merge_in_progress"

MERGED = "merged"  # Profile.Status.MERGED
IN_PROGRESS = ("queued", "running")  # MergeJob.Status.QUEUED, RUNNING

CLEAR_IDENTIFIER = "identity.change_identifier"
CHANGE_TYPE = "identity.change_identifiertype"
OVERRIDE = "merges.override_blocking_reason"
VIEW_PROFILE = "profiles.view_profile"
VIEW_JOB = "merges.view_mergejob"


@dataclass(frozen=True)
class IdentifierState:
    type_key: str
    type_label: str
    value: str  # normalised
    is_current: bool
    grants_access: bool
    do_not_merge: bool  # the type's flag


@dataclass(frozen=True)
class ProfileState:
    id: int
    status: str  # "active" or "merged"
    merged_into_id: int | None
    identifiers: tuple = ()  # of IdentifierState, current and previous


@dataclass(frozen=True)
class DismissalState:
    """A steward's "not a duplicate" on a candidate: who, when, why, and which profiles."""

    candidate_id: int
    profile_ids: frozenset
    by: str  # the steward's username; "" when not recorded
    at: datetime
    reason: str


@dataclass(frozen=True)
class JobState:
    job_id: int
    status: str
    profile_ids: frozenset  # survivor and merged profiles


@dataclass(frozen=True)
class GroupState:
    profiles: tuple = ()  # of ProfileState
    dismissals: tuple = ()  # of DismissalState
    jobs: tuple = ()  # of JobState


@dataclass(frozen=True)
class Remedy:
    code: str
    text: str
    permission: str  # the Django permission a user needs to take this way out


@dataclass(frozen=True)
class BlockingReason:
    code: str
    title: str
    evidence: dict
    rule: str
    remedies: tuple  # of Remedy


MERGE_ANYWAY = Remedy(
    "merge_anyway",
    "Merge anyway: acknowledge this reason with a written justification.",
    OVERRIDE,
)


def blocking_reasons(group):
    """Every reason the profiles of `group` may not be merged now; [] when nothing blocks."""
    return [describe(finding) for _, find, describe in _CHECKS for finding in find(group)]


def blocking_codes(group):
    """The codes of `blocking_reasons(group)`, once each and in its order, without writing the
    reasons out: the stored codes of the queue and the impact preview judge many groups."""
    return [code for code, find, _ in _CHECKS if find(group)]


def is_blocked(group):
    return any(find(group) for _, find, _ in _CHECKS)


# Each check finds what blocks (a list, empty when nothing does) and describes one finding as a
# BlockingReason; `_CHECKS` below puts them in SPEC 5's order.


def _unique_id_conflicts(group):
    """Per "do not merge" type: profiles holding current values of it, and not the same ones.

    [(type key, type label, {profile id: set of values})], by type key."""
    held = {}  # type key -> {profile id: set of values}
    labels = {}
    for profile in group.profiles:
        for identifier in profile.identifiers:
            if identifier.do_not_merge and identifier.is_current:
                labels.setdefault(identifier.type_key, identifier.type_label)
                values = held.setdefault(identifier.type_key, {}).setdefault(profile.id, set())
                values.add(identifier.value)
    return [
        (type_key, labels[type_key], held[type_key])
        for type_key in sorted(held)
        if len({frozenset(values) for values in held[type_key].values()}) >= 2
    ]


def _describe_unique_id_conflict(finding):
    type_key, label, holders = finding
    return BlockingReason(
        code=UNIQUE_ID_CONFLICT,
        title=f"Different {_plural(_lower_first(label))}",
        evidence={
            "type": type_key,
            "type_label": label,
            "profiles": [
                {"profile": profile_id, "values": sorted(holders[profile_id])}
                for profile_id in sorted(holders)
            ],
        },
        rule=(
            f"{label} is a 'do not merge' type: profiles holding different values are "
            "never merged without an override."
        ),
        remedies=(
            Remedy(
                "clear_identifier",
                f"Clear the {_lower_first(label)} on the profile it does not belong to.",
                CLEAR_IDENTIFIER,
            ),
            Remedy(
                "change_type_setting",
                f"Turn off 'do not merge' for {label} (senior stewards, after an impact "
                "preview).",
                CHANGE_TYPE,
            ),
            MERGE_ANYWAY,
        ),
    )


def _access_contact_mismatch(group):
    """Profiles that each grant account access through some contacts, and not the same ones.

    [{profile id: {(type key, value): type label}}], or [] when they are the same."""
    contacts = {}
    for profile in group.profiles:
        granting = {
            (identifier.type_key, identifier.value): identifier.type_label
            for identifier in profile.identifiers
            if identifier.grants_access and identifier.is_current
        }
        if granting:
            contacts[profile.id] = granting
    if len({frozenset(granting) for granting in contacts.values()}) < 2:
        return []
    return [contacts]


def _describe_access_contact_mismatch(contacts):
    sets = [frozenset(granting) for granting in contacts.values()]
    labels = {key[0]: label for granting in contacts.values() for key, label in granting.items()}
    not_shared = frozenset.union(*sets) - frozenset.intersection(*sets)
    differing = sorted({type_key for type_key, _ in not_shared})
    return BlockingReason(
        code=ACCESS_CONTACT_MISMATCH,
        title="Different contacts grant account access",
        evidence={
            "profiles": [
                {
                    "profile": profile_id,
                    "contacts": [
                        {"type": type_key, "type_label": label, "value": value}
                        for (type_key, value), label in sorted(contacts[profile_id].items())
                    ],
                }
                for profile_id in sorted(contacts)
            ],
        },
        rule=(
            "Profiles that each have contacts granting account access are merged only when those "
            "contacts are the same: otherwise one person could reach another's account."
        ),
        remedies=(
            Remedy(
                "clear_identifier",
                "Clear the contact that does not belong, or its account access, on one profile.",
                CLEAR_IDENTIFIER,
            ),
            Remedy(
                "change_type_setting",
                f"Stop {_and(labels[key] for key in differing)} from granting account access "
                "(senior stewards, after an impact preview).",
                CHANGE_TYPE,
            ),
            MERGE_ANYWAY,
        ),
    )


def _previous_dismissals(group):
    """Each "not a duplicate" that covers two or more profiles of the group:
    [(DismissalState, sorted profile ids it covers)], oldest first."""
    if not group.dismissals:
        return []
    ids = {profile.id for profile in group.profiles}
    found = []
    for dismissal in sorted(group.dismissals, key=lambda d: (d.at, d.candidate_id)):
        covered = sorted(ids & dismissal.profile_ids)
        if len(covered) >= 2:
            found.append((dismissal, covered))
    return found


def _describe_previous_dismissal(finding):
    dismissal, covered = finding
    return BlockingReason(
        code=PREVIOUSLY_DISMISSED,
        title="Marked as different people",
        evidence={
            "candidate": dismissal.candidate_id,
            "profiles": covered,
            "by": dismissal.by,
            "at": dismissal.at.isoformat(),
            "reason": dismissal.reason,
        },
        rule=(
            "A steward recorded these profiles as different people (not a duplicate): they "
            "are not merged without an override."
        ),
        remedies=(MERGE_ANYWAY,),
    )


def _inactive_profiles(group):
    """Each profile of the group that is already a tombstone, by id."""
    return sorted((p for p in group.profiles if p.status == MERGED), key=lambda p: p.id)


def _describe_inactive_profile(profile):
    survivor = profile.merged_into_id
    return BlockingReason(
        code=INACTIVE_PROFILE,
        title=f"Profile {profile.id} is already merged into profile {survivor}",
        evidence={"profile": profile.id, "merged_into": survivor},
        rule="A merged profile is a tombstone: only active profiles can be merged.",
        remedies=(
            Remedy(
                "review_survivor",
                f"Review profile {survivor}, which profile {profile.id} was merged into, "
                "instead.",
                VIEW_PROFILE,
            ),
        ),
    )


def _merges_in_progress(group):
    """Each queued or running merge job that holds a profile of the group:
    [(JobState, sorted profile ids of the group it holds)], by job id."""
    if not group.jobs:
        return []
    ids = {profile.id for profile in group.profiles}
    found = []
    for job in sorted(group.jobs, key=lambda j: j.job_id):
        involved = sorted(ids & job.profile_ids)
        if job.status in IN_PROGRESS and involved:
            found.append((job, involved))
    return found


def _describe_merge_in_progress(finding):
    job, involved = finding
    return BlockingReason(
        code=MERGE_IN_PROGRESS,
        title=f"Already in merge job {job.job_id} ({job.status})",
        evidence={"job": job.job_id, "status": job.status, "profiles": involved},
        rule=(
            "A profile in a queued or running merge job joins no other merge until that job "
            "has finished."
        ),
        remedies=(
            Remedy(
                "wait_for_job",
                f"Wait for merge job {job.job_id} to finish, then review the group again.",
                VIEW_JOB,
            ),
        ),
    )


_CHECKS = (
    (UNIQUE_ID_CONFLICT, _unique_id_conflicts, _describe_unique_id_conflict),
    (ACCESS_CONTACT_MISMATCH, _access_contact_mismatch, _describe_access_contact_mismatch),
    (PREVIOUSLY_DISMISSED, _previous_dismissals, _describe_previous_dismissal),
    (INACTIVE_PROFILE, _inactive_profiles, _describe_inactive_profile),
    (MERGE_IN_PROGRESS, _merges_in_progress, _describe_merge_in_progress),
)


def _lower_first(label):
    """'Loyalty card' -> 'loyalty card'; an acronym such as 'ID' or 'IBAN' keeps its case."""
    if len(label) > 1 and label[1].isupper():
        return label
    return label[:1].lower() + label[1:]


def _plural(noun):
    """'loyalty card' -> 'loyalty cards', 'customer ID' -> 'customer IDs'."""
    if not noun[-1:].isalpha():
        return f"{noun} values"
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return f"{noun}es"
    if noun.endswith("y") and noun[-2:-1].lower() not in ("", "a", "e", "i", "o", "u"):
        return f"{noun[:-1]}ies"
    return f"{noun}s"


def _and(words):
    words = list(words)
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
