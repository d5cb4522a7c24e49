"""Merging profiles (SPEC 6): requesting a merge job, and the one service that executes it.

`request_merge` checks the group and its blocking reasons, records the job (queued) with the
steward's acknowledgements and enqueues it when its transaction commits. `execute_merge` is what
the task runs, for steward and automatic merges alike: one transaction that locks the job and the
profiles in id order, re-checks the blocking reasons against the current state, moves
identifiers and events set-based, applies the field choices, turns the others into tombstones,
re-scopes the candidates, tells `profiles_changed`, writes the audit entry and takes its place in
the merge feed. A job already finished is left alone, so a second delivery does nothing; a worker
killed half-way leaves nothing behind (its transaction rolls back) and the redelivered message
runs it again.
"""

import json
import logging
from dataclasses import asdict
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from identity import broker
from identity.candidates.blocking import INACTIVE_PROFILE, MERGE_IN_PROGRESS, OVERRIDE
from identity.candidates.blocking_codes import refresh_blocking_codes_of_profiles
from identity.candidates.lifecycle import rescope_after_merge
from identity.changes import profiles_changed
from identity.locks import lock_key
from identity.models import DuplicateCandidate, IdentityConflict
from merges import audit
from merges.models import MergeJob
from merges.selectors import default_field_choices, merge_plan
from profiles.models import Profile
from profiles.text import unstorable

log = logging.getLogger(__name__)

FEED_LOCK = lock_key("merges", "feed")
# Codes that are states of the moment, not decisions: never acknowledged, always refused.
UNACKNOWLEDGEABLE = (INACTIVE_PROFILE, MERGE_IN_PROGRESS)


class MergeRefused(Exception):
    """A merge that cannot be requested, in words a steward understands.

    `status` is the HTTP status the API answers with: 400 bad input, 403 a blocking reason the
    user may not override (or did not acknowledge), 404 an unknown profile, 409 a profile
    already merged or in another merge.
    """

    def __init__(self, message, *, status=400, code="invalid", field=None, reasons=()):
        super().__init__(message)
        self.status, self.code, self.field, self.reasons = status, code, field, tuple(reasons)


class MergeFailed(Exception):
    """The state changed between confirmation and execution: the job fails with this text."""


@transaction.atomic
def request_merge(*, profile_ids, actor, survivor_id=None, field_choices=None,
                  justifications=None, candidate_id=None):
    """Create a queued merge job for these profiles and enqueue it on commit.

    `actor` None is the system (automatic merges): it never overrides a blocking reason.
    `justifications` {reason code: text}: each blocking reason must have one, and the actor the
    override permission. Raises MergeRefused.
    """
    ids = sorted({int(pk) for pk in profile_ids})
    if len(ids) < 2:
        raise MergeRefused("choose at least two profiles to merge", field="profileIds")
    if len(ids) > settings.MERGE_MAX_GROUP:
        raise MergeRefused(f"a merge takes at most {settings.MERGE_MAX_GROUP} profiles",
                           field="profileIds")
    if survivor_id is not None and int(survivor_id) not in ids:
        raise MergeRefused("the survivor must be one of the profiles merged", field="survivorId")
    # Locked in id order, as the merge itself locks them: two requests on overlapping profiles
    # queue here and the second sees the first's job.
    profiles = list(Profile.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    missing = sorted(set(ids) - {p.pk for p in profiles})
    if missing:
        raise MergeRefused(f"there is no profile {_and(missing)}", status=404, code="not_found",
                           field="profileIds")
    if candidate_id is not None and not DuplicateCandidate.objects.filter(
            pk=candidate_id).exists():
        raise MergeRefused(f"there is no candidate {candidate_id}", status=404, code="not_found",
                           field="candidateId")
    plan = merge_plan(ids, survivor_id=survivor_id and int(survivor_id))
    now_states = [r for r in plan.reasons if r.code in UNACKNOWLEDGEABLE]
    if now_states:
        raise MergeRefused(
            " ".join(_reason_text(r) for r in now_states), status=409, code="conflict",
            field="profileIds", reasons=now_states,
        )
    acknowledged = []
    if plan.reasons:
        titles = "; ".join(r.title for r in plan.reasons)
        if actor is None or not actor.has_perm(OVERRIDE):
            raise MergeRefused(
                f"this merge is blocked ({titles}); merging anyway needs the permission to "
                f"override blocking reasons", status=403, code="blocked", reasons=plan.reasons,
            )
        justifications = {code: (text or "").strip()
                          for code, text in (justifications or {}).items()}
        for code, text in justifications.items():
            if problem := unstorable(text):
                raise MergeRefused(f"the justification of {code} {problem}", status=400,
                                   code="invalid", field="acknowledgements")
        unjustified = [r for r in plan.reasons if not justifications.get(r.code)]
        if unjustified:
            raise MergeRefused(
                "acknowledge each blocking reason with a justification: "
                + "; ".join(r.title for r in unjustified),
                status=403, code="acknowledgement_required", field="acknowledgements",
                reasons=unjustified,
            )
        acknowledged = [
            {**asdict(r), "justification": justifications[r.code]} for r in plan.reasons
        ]
    choices = _field_choices(field_choices, plan)
    job = MergeJob.objects.create(
        candidate_id=candidate_id, survivor_id=plan.survivor_id,
        merged_profile_ids=[pk for pk in ids if pk != plan.survivor_id],
        field_choices=choices, acknowledged_reasons=acknowledged, requested_by=actor,
        survivor_rule=plan.survivor_rule,
    )
    targets = {"merge_job": job.pk, "profiles": ids, "survivor": plan.survivor_id}
    audit.record(actor=actor, action="merge.requested", targets=targets,
                 after={"survivor_rule": plan.survivor_rule, "field_choices": choices})
    if acknowledged:
        audit.record(
            actor=actor, action="merge.override", targets=targets,
            after={"acknowledged": [{"code": a["code"], "title": a["title"],
                                     "justification": a["justification"]}
                                    for a in acknowledged]},
        )
    # The group's candidates are now "merge in progress".
    refresh_blocking_codes_of_profiles(ids)
    transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def queue_automatic_merges(links):
    """A write linked profiles through auto-merge types (identity.hooks.profiles_linked): one
    task requests and runs their merges, with the system as actor (AUTOMATIC_MERGES).

    Called after the write committed: with the broker down the write still answers, and
    `resume_merges` later finds the candidates marked for automatic merge."""
    from merges.tasks import merge_linked_profiles

    if settings.AUTOMATIC_MERGES:
        _send(merge_linked_profiles, links)


def _enqueue(job_id):
    from merges.tasks import run_merge

    _send(run_merge, job_id)


def _send(task, *args):
    """Hand a task to the broker after a commit; the rows are the truth, so a broker that is
    down loses nothing (identity.broker logs it): `resume_merges` picks the work up again when
    it is back."""
    broker.send(task, *args)


def jobs_to_resume(now=None):
    """Jobs to hand to a worker again: queued for RECOVERY_SECONDS (their message never
    reached a worker: the broker was down), or running for HEARTBEAT_STALE_SECONDS with their
    row free. A running merge holds its job's row locked from its first statement to its
    commit, so a free row says its worker died; the redelivery after the broker's visibility
    timeout would take an hour."""
    now = now or timezone.now()
    with transaction.atomic():
        return list(
            MergeJob.objects.select_for_update(skip_locked=True).filter(
                Q(status=MergeJob.Status.QUEUED,
                  created_at__lt=now - timedelta(seconds=settings.RECOVERY_SECONDS))
                | Q(status=MergeJob.Status.RUNNING,
                    started_at__lt=now - timedelta(seconds=settings.HEARTBEAT_STALE_SECONDS))
            ).order_by("pk").values_list("pk", flat=True)
        )


def stalled_jobs(now=None):
    """Running merge jobs whose worker died (see jobs_to_resume), for /healthz."""
    now = now or timezone.now()
    with transaction.atomic():
        return list(
            MergeJob.objects.select_for_update(skip_locked=True).filter(
                status=MergeJob.Status.RUNNING,
                started_at__lt=now - timedelta(seconds=settings.HEARTBEAT_STALE_SECONDS),
            ).order_by("pk").values_list("pk", "started_at")
        )


def automatic_merges_waiting():
    """[candidate id, target, holder] of open candidates marked for automatic merge that
    nothing blocks: their write's task was lost (the broker was down)."""
    rows = IdentityConflict.objects.filter(
        kind=IdentityConflict.Kind.COLLISION, type__auto_merge=True,
        candidate__status=DuplicateCandidate.Status.OPEN, candidate__auto_merge=True,
        candidate__blocking_codes=[],
    ).order_by("candidate_id").values_list("candidate_id", "profile_id", "held_by_id")
    return [list(row) for row in rows]


def _field_choices(given, plan):
    """The steward's choices {attribute: profile id}, checked, over the defaults."""
    choices = {choice.name: choice.default for choice in plan.attributes}
    ids = {p.profile.pk for p in plan.profiles}
    for name, pk in (given or {}).items():
        if name not in choices:
            raise MergeRefused(f"{name!r} does not differ between these profiles",
                               field=f"fieldChoices.{name}")
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            pk = None
        if pk not in ids:
            raise MergeRefused(f"the value of {name} must come from one of the profiles merged",
                               field=f"fieldChoices.{name}")
        choices[name] = pk
    return choices


def execute_merge(job_id):
    """Run merge job `job_id` to its end; returns the job. Safe to call again for the same job."""
    with transaction.atomic():  # a short commit of its own: the page shows "running"
        job = MergeJob.objects.select_for_update().get(pk=job_id)
        if job.status in (MergeJob.Status.SUCCEEDED, MergeJob.Status.FAILED):
            return job
        if job.status == MergeJob.Status.QUEUED:
            job.status, job.started_at = MergeJob.Status.RUNNING, timezone.now()
            job.save(update_fields=["status", "started_at"])
    try:
        with transaction.atomic():
            job = MergeJob.objects.select_for_update().get(pk=job_id)
            if job.status != MergeJob.Status.RUNNING:
                return job  # another delivery finished it while we waited for the lock
            _merge(job)
            return job
    except MergeFailed as error:
        return _fail(job_id, str(error))


def _merge(job):
    survivor_id, merged_ids = job.survivor_id, sorted(job.merged_profile_ids)
    ids = sorted([survivor_id, *merged_ids])
    profiles = {p.pk: p for p in
                Profile.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
    inactive = [pk for pk in ids if profiles[pk].status != Profile.Status.ACTIVE]
    if inactive:
        raise MergeFailed(
            "; ".join(f"profile {pk} was merged into profile {profiles[pk].merged_into_id} "
                      f"meanwhile" for pk in inactive)
        )
    plan = merge_plan(ids, survivor_id=survivor_id, excluding_job_id=job.pk)
    acknowledged = {(a["code"], _key(a["evidence"])) for a in job.acknowledged_reasons}
    # Another job on these profiles waits for the locks this one holds, and finds them merged
    # when it gets them: "merge in progress" is settled by the locks here, not a reason to fail.
    new = [r for r in plan.reasons if r.code != MERGE_IN_PROGRESS
           and (r.code, _key(r.evidence)) not in acknowledged]
    if new:
        raise MergeFailed(
            "blocked since it was confirmed: " + " ".join(_reason_text(r) for r in new)
        )
    before = {pk: _snapshot(profiles[pk]) for pk in ids}
    now = timezone.now()
    with connection.cursor() as cursor:
        moved = _move_identifiers(cursor, survivor_id, merged_ids)
        cursor.execute(
            "UPDATE profiles_profileevent SET profile_id = %s WHERE profile_id = ANY(%s)",
            [survivor_id, merged_ids],
        )
        events = cursor.rowcount
        cursor.execute(
            "UPDATE profiles_profile SET status = 'merged', merged_into_id = %s, merged_at = %s, "
            "updated_at = %s WHERE id = ANY(%s)",
            [survivor_id, now, now, merged_ids],
        )
        # Chains collapse: what was merged into a profile merged now points to the survivor.
        cursor.execute(
            "UPDATE profiles_profile SET merged_into_id = %s WHERE merged_into_id = ANY(%s)",
            [survivor_id, merged_ids],
        )
    survivor = profiles[survivor_id]
    survivor.attributes = _chosen_attributes(profiles, survivor_id, job.field_choices)
    survivor.updated_at = now
    survivor.save(update_fields=["attributes", "updated_at"])
    closed, rescoped = rescope_after_merge(survivor_id=survivor_id, merged_ids=merged_ids,
                                           merge_job_id=job.pk)
    if job.candidate_id and job.candidate_id not in closed:
        DuplicateCandidate.objects.filter(pk=job.candidate_id).update(
            status=DuplicateCandidate.Status.MERGED, closed_at=now, updated_at=now,
            merge_job_id=job.pk,
        )
        closed.append(job.candidate_id)
    # Collisions between profiles now one are settled; they make no more candidates.
    IdentityConflict.objects.filter(profile_id__in=ids, held_by_id__in=ids).delete()
    profiles_changed(ids)
    job.summary = {**moved, "events": events, "tombstones": len(merged_ids),
                   "candidates_closed": len(closed), "candidates_rescoped": len(rescoped)}
    audit.record(
        actor=job.requested_by, action="merge.succeeded",
        targets={"merge_job": job.pk, "profiles": ids, "survivor": survivor_id,
                 "candidates": sorted(closed)},
        before={"profiles": before},
        after={"survivor": _snapshot(Profile.objects.get(pk=survivor_id)),
               "summary": job.summary},
    )
    with connection.cursor() as cursor:
        # Held until commit: feed positions are given in commit order (SPEC 10's merge feed).
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [FEED_LOCK])
        cursor.execute("SELECT coalesce(max(feed_position), 0) + 1 FROM merges_mergejob")
        (job.feed_position,) = cursor.fetchone()
    job.status, job.finished_at, job.error = MergeJob.Status.SUCCEEDED, timezone.now(), ""
    job.save(update_fields=["status", "finished_at", "error", "summary", "feed_position"])
    if settings.MERGE_WEBHOOK_URL:
        transaction.on_commit(lambda: _post_webhook(job.pk))


def _post_webhook(job_id):
    from merges.tasks import deliver_merge_webhook

    deliver_merge_webhook.delay(job_id)


def _fail(job_id, error):
    with transaction.atomic():
        job = MergeJob.objects.select_for_update().get(pk=job_id)
        if job.status in (MergeJob.Status.SUCCEEDED, MergeJob.Status.FAILED):
            return job
        job.status, job.error, job.finished_at = MergeJob.Status.FAILED, error, timezone.now()
        job.save(update_fields=["status", "error", "finished_at"])
        ids = sorted([job.survivor_id, *job.merged_profile_ids])
        audit.record(actor=job.requested_by, action="merge.failed",
                     targets={"merge_job": job.pk, "profiles": ids}, after={"error": error})
        refresh_blocking_codes_of_profiles(ids)  # no longer "merge in progress"
    log.info("merge job %s failed: %s", job_id, error)
    return job


def fail_stuck_job(job_id, error):
    """Give up on a job the task could not finish (transient errors past their retries)."""
    return _fail(job_id, error)


def _move_identifiers(cursor, survivor_id, merged_ids):
    """Move the merged profiles' identifiers to the survivor, set-based, keeping each value
    once (the survivor's row, else the oldest, with the widest facts) and one current value of
    each single-valued type (the survivor's, else the most recently seen)."""
    group = [survivor_id, *merged_ids]
    cursor.execute(
        """
        SELECT (array_agg(id ORDER BY profile_id = %s DESC, id))[1],
               array_agg(id), bool_or(grants_access), bool_or(is_current),
               min(first_seen), max(last_seen)
        FROM identity_identifier WHERE profile_id = ANY(%s)
        GROUP BY type_id, value HAVING count(*) > 1
        """,
        [survivor_id, group],
    )
    same = cursor.fetchall()
    if same:
        cursor.execute(
            "DELETE FROM identity_identifier WHERE id = ANY(%s)",
            [[pk for keeper, rows, *_ in same for pk in rows if pk != keeper]],
        )
        cursor.execute(
            """
            UPDATE identity_identifier i
            SET grants_access = u.access, is_current = u.current, first_seen = u.first_seen,
                last_seen = u.last_seen
            FROM unnest(%s::bigint[], %s::bool[], %s::bool[], %s::timestamptz[],
                        %s::timestamptz[]) AS u(id, access, current, first_seen, last_seen)
            WHERE i.id = u.id
            """,
            [list(column) for column in zip(
                *[(keeper, access, current, first, last)
                  for keeper, _, access, current, first, last in same], strict=True)],
        )
    cursor.execute(
        """
        UPDATE identity_identifier i SET is_current = false
        FROM (SELECT id, row_number() OVER (
                  PARTITION BY type_id ORDER BY profile_id = %s DESC, last_seen DESC, id) AS n
              FROM identity_identifier
              WHERE profile_id = ANY(%s) AND is_single_valued AND is_current) ranked
        WHERE i.id = ranked.id AND ranked.n > 1
        """,
        [survivor_id, group],
    )
    previous = cursor.rowcount
    cursor.execute(
        "UPDATE identity_identifier SET profile_id = %s WHERE profile_id = ANY(%s) "
        "RETURNING grants_access",
        [survivor_id, merged_ids],
    )
    rows = cursor.fetchall()
    return {"identifiers": len(rows), "access_contacts": sum(1 for (access,) in rows if access),
            "identifiers_kept_once": sum(len(rows) - 1 for _, rows, *_ in same),
            "values_made_previous": previous}


def _chosen_attributes(profiles, survivor_id, field_choices):
    """The survivor's attributes after the merge: the chosen profile's value (with its observed
    time) for each attribute that differs; defaults for any that differ since confirmation."""
    held = {pk: p.attributes for pk, p in profiles.items()}
    choices = {**default_field_choices(held, survivor_id), **field_choices}
    attributes = dict(held[survivor_id])
    for name, pk in choices.items():
        chosen = held.get(int(pk), {}).get(name)
        if chosen is not None:
            attributes[name] = chosen
    return attributes


def _snapshot(profile):
    return {
        "status": profile.status,
        "attributes": {name: held["v"] for name, held in sorted(profile.attributes.items())},
        "identifiers": [
            {"type": i.type.key, "value": i.value, "current": i.is_current,
             "grants_access": i.grants_access}
            for i in profile.identifiers.select_related("type").order_by("type__key", "value")
        ],
        "events": profile.events.count(),
    }


def _key(evidence):
    return json.dumps(evidence, sort_keys=True, default=str)


def _reason_text(reason):
    return f"{reason.title}."


def _and(items):
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
