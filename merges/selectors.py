"""Reads of merge jobs, and what a merge would do (the confirmation page)."""

import json
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, Q

from identity.candidates.blocking import JobState, blocking_reasons
from identity.candidates.states import group_state_for_profiles
from identity.hooks import MergeJobFacts
from identity.models import DuplicateCandidate, Identifier
from identity.queries import id_array
from merges.models import AuditEntry, MergeJob
from profiles.models import Profile, ProfileEvent


def jobs_in_progress(profile_ids, *, excluding_job_id=None):
    """Queued or running merge jobs whose survivor or merged profiles include these profiles
    (all of them for None: an impact preview judging most of the queue asks so).

    Identity's blocking state reads them through identity.hooks (`merge_in_progress`); the
    merge task passes its own job as `excluding_job_id`: the job running the merge is not a
    merge in progress that blocks it. The ids go as one array, however many (an impact preview
    asks for 200,000).
    """
    ids = None if profile_ids is None else id_array(profile_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT id, status, survivor_id, merged_profile_ids FROM merges_mergejob
            WHERE status IN ('queued', 'running') AND id IS DISTINCT FROM %(job)s::bigint
              AND (%(ids)s::bigint[] IS NULL
                   OR survivor_id = ANY(%(ids)s::bigint[])
                   OR merged_profile_ids && %(ids)s::bigint[])
            ORDER BY id
            """,
            {"job": excluding_job_id, "ids": ids},
        )
        return [
            JobState(pk, status, frozenset([survivor_id, *merged]))
            for pk, status, survivor_id, merged in cursor.fetchall()
        ]


def merge_job_facts(job_id):
    """What a merged candidate's page says of the merge that closed it (identity.hooks)."""
    job = MergeJob.objects.select_related("requested_by").filter(pk=job_id).first()
    if job is None:
        return None
    return MergeJobFacts(
        job_id=job.pk, requested_by=job.requested_by.get_username() if job.requested_by else None,
        survivor_id=job.survivor_id,
    )


# -- the confirmation page (SPEC 6) ------------------------------------------------------------


@dataclass(frozen=True)
class MergeProfile:
    profile: Profile
    name: str
    identifiers: int
    access_contacts: int
    events: int


@dataclass(frozen=True)
class AttributeChoice:
    """An attribute whose values differ: each profile's value, and the one kept by default."""

    name: str
    values: tuple  # of (profile id, value or None)
    default: int  # the profile id whose value is kept


@dataclass(frozen=True)
class MergePlan:
    profiles: tuple  # of MergeProfile, in id order
    survivor_id: int
    survivor_rule: str
    attributes: tuple  # of AttributeChoice
    reasons: tuple  # of identity.candidates.blocking.BlockingReason
    candidates_closing: int

    @property
    def merged(self):
        return tuple(p for p in self.profiles if p.profile.pk != self.survivor_id)

    @property
    def moving(self):
        """What moves to the survivor: identifiers, access contacts, events."""
        return {
            "identifiers": sum(p.identifiers for p in self.merged),
            "access_contacts": sum(p.access_contacts for p in self.merged),
            "events": sum(p.events for p in self.merged),
        }


def default_survivor(profiles):
    """SPEC 6: the profile holding access-granting contacts, else the one with the most events,
    else the oldest. `profiles`: MergeProfiles. Returns (profile id, the rule that chose it)."""
    with_access = [p for p in profiles if p.access_contacts]
    if len(with_access) == 1:
        return with_access[0].profile.pk, "it holds the account's access contacts"
    pool = with_access or list(profiles)
    most = max(p.events for p in pool)
    busiest = [p for p in pool if p.events == most]
    if len(busiest) == 1 and len(pool) > 1:
        rule = "it has the most events"
        if with_access:
            rule = "of the profiles holding access contacts, it has the most events"
        return busiest[0].profile.pk, rule
    oldest = min(busiest, key=lambda p: (p.profile.created_at, p.profile.pk))
    return oldest.profile.pk, "it is the oldest profile"


def default_field_choices(attributes_by_profile, survivor_id):
    """{attribute name: profile id} for each attribute whose values differ: the survivor's
    non-empty value, else the most recently observed one (SPEC 6)."""
    names = sorted({name for held in attributes_by_profile.values() for name in held})
    choices = {}
    for name in names:
        held = {pk: attrs[name] for pk, attrs in attributes_by_profile.items() if name in attrs}
        if len({_order(h["v"]) for h in held.values()}) <= 1 and len(held) == len(
            attributes_by_profile
        ):
            continue  # the same everywhere
        survivor_value = held.get(survivor_id, {}).get("v")
        if survivor_value not in (None, ""):
            choices[name] = survivor_id
            continue
        filled = {pk: h for pk, h in held.items() if h["v"] not in (None, "")}
        if filled:
            choices[name] = max(filled, key=lambda pk: (filled[pk]["t"], pk == survivor_id, -pk))
        else:
            choices[name] = survivor_id
    return choices


def _order(value):
    return json.dumps(value, sort_keys=True)


def merge_plan(profile_ids, *, survivor_id=None, excluding_job_id=None):
    """What merging these profiles would do now: the default survivor and why, the attributes
    that differ with their default choice, what moves, the candidates that close, and the
    blocking reasons. A fixed number of queries whatever the group's size."""
    ids = sorted(set(profile_ids))
    profiles = {p.pk: p for p in Profile.objects.filter(pk__in=ids)}
    counts = {
        row["profile_id"]: row
        for row in Identifier.objects.filter(profile_id__in=ids).values("profile_id").annotate(
            n=Count("pk"), access=Count("pk", filter=Q(grants_access=True))
        )
    }
    events = dict(
        ProfileEvent.objects.filter(profile_id__in=ids).values("profile_id")
        .annotate(n=Count("pk")).values_list("profile_id", "n")
    )
    members = [
        MergeProfile(
            profiles[pk], display_name(profiles[pk]), counts.get(pk, {}).get("n", 0),
            counts.get(pk, {}).get("access", 0), events.get(pk, 0),
        )
        for pk in ids if pk in profiles
    ]
    default, rule = default_survivor(members)
    if survivor_id not in profiles:
        survivor_id = default
    elif survivor_id != default:
        rule = "it was chosen by the steward"
    attributes = {pk: p.attributes for pk, p in profiles.items()}
    choices = default_field_choices(attributes, survivor_id)
    state = group_state_for_profiles(ids, excluding_job_id=excluding_job_id)
    return MergePlan(
        profiles=tuple(members),
        survivor_id=survivor_id,
        survivor_rule=rule,
        attributes=tuple(
            AttributeChoice(
                name, tuple((pk, attributes[pk].get(name, {}).get("v")) for pk in sorted(profiles)),
                default,
            )
            for name, default in choices.items()
        ),
        reasons=tuple(blocking_reasons(state)),
        candidates_closing=_candidates_closing(ids),
    )


def _candidates_closing(ids):
    """Open candidates all of whose profiles are in the group: merging closes them."""
    return (
        DuplicateCandidate.objects.filter(status=DuplicateCandidate.Status.OPEN)
        .filter(candidatemember__profile_id__in=ids).distinct()
        .exclude(candidatemember__profile__in=Profile.objects.exclude(pk__in=ids))
        .count()
    )


def display_name(profile):
    """"First Last" from a profile's attributes, or "" when it has neither."""
    parts = [profile.attribute("first_name"), profile.attribute("last_name")]
    return " ".join(str(part) for part in parts if part)


# -- the merge feed (SPEC 10) -------------------------------------------------------------------


def feed_entry(job):
    return {
        "mergeId": job.pk,
        "survivorId": job.survivor_id,
        "mergedIds": sorted(job.merged_profile_ids),
        "finishedAt": job.finished_at.isoformat(),
    }


def merge_feed(*, after=0, limit=100):
    """Succeeded merges after feed position `after`, in commit order: (entries, next cursor)."""
    jobs = list(
        MergeJob.objects.filter(feed_position__gt=after).order_by("feed_position")[:limit]
    )
    return [feed_entry(job) for job in jobs], (jobs[-1].feed_position if jobs else after)


def job_json(job):
    return {
        "mergeId": job.pk,
        "status": job.status,
        "survivorId": job.survivor_id,
        "mergedIds": sorted(job.merged_profile_ids),
        "error": job.error or None,
        "createdAt": job.created_at.isoformat(),
        "finishedAt": job.finished_at.isoformat() if job.finished_at else None,
    }


# -- the job list (SPEC 8: /merges/) -----------------------------------------------------------


@dataclass(frozen=True)
class JobPage:
    jobs: list
    next_before: int | None  # the id to page on from, or None on the last page


def job_page(queryset, *, before=None, size=50):
    """Newest first, keyset-paged by id: two queries whatever the page's size."""
    if before is not None:
        queryset = queryset.filter(pk__lt=before)
    jobs = list(queryset.select_related("requested_by").order_by("-pk")[:size + 1])
    return JobPage(jobs[:size], jobs[size - 1].pk if len(jobs) > size else None)


def job_audit_entries(job):
    """The audit entries of a merge job (requested, override, succeeded or failed), with their
    action labels: the before and after snapshots are on the entries' own pages."""
    from merges.audit.labels import action_label

    entries = list(
        AuditEntry.objects.filter(profile_ids__overlap=[job.survivor_id],
                                  targets__merge_job=job.pk).order_by("pk")
    )
    for entry in entries:
        entry.label = action_label(entry.action)
    return entries
