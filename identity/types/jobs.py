"""The background work of a saved identifier-type change: an IdentifierTypeJob, run by the
Celery task `identity.tasks.run_identifier_type_job`, its progress on the row.

`recompute` (a flag that blocking or detection reads changed): detection first, for the
profiles whose suggestions the change makes or unmakes (`matchable`: the holders of shared
values, or the candidates resting on them; `auto_merge`: the candidates linked by collisions on
the type), then the stored blocking codes of every open candidate holding a value of the type,
so the queue's filters agree with the reasons its rows show when the job ends.

`renormalise` (the normaliser changed): every value of the type from its raw value through the
type's normaliser, in chunks of their own transaction, each calling `profiles_changed` for the
profiles it touched. A value that no longer validates, or whose new form another identifier
holds already, is kept as it was and listed in the job's `problems`: never dropped.

A job delivered again after it finished, or while a live worker runs it, does nothing; one left
running by a dead worker (its heartbeat stopped: identity.heartbeat) is queued again by the beat
and runs again from the start, which changes nothing already done.
"""

import json

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from identity import heartbeat
from identity.candidates.blocking_codes import refresh_blocking_codes
from identity.changes import profiles_changed
from identity.matching import detect
from identity.models import Identifier, IdentifierType, IdentifierTypeJob
from identity.normalisers import InvalidValue, normalise
from identity.queries import chunks

CHUNK = 2000  # candidates refreshed, or values re-normalised, per transaction
DETECT_CHUNK = 100  # profiles per incremental detection
# Past this many profiles to look at again, one full detection run is quicker than
# incremental runs (about 12 ms a profile at a million profiles, against 35 s for all).
FULL_DETECTION_ABOVE = 3000

Status = IdentifierTypeJob.Status


def execute_type_job(job_id):
    if not heartbeat.claim(IdentifierTypeJob, job_id):
        return IdentifierTypeJob.objects.get(pk=job_id)
    with heartbeat.beating(IdentifierTypeJob, job_id):
        return _execute(job_id)


def _execute(job_id):
    job = IdentifierTypeJob.objects.select_related("identifier_type").get(pk=job_id)
    _set(job_id, error="")
    try:
        if job.kind == IdentifierTypeJob.Kind.RENORMALISE:
            figures = _renormalise(job)
        else:
            figures = _recompute(job)
    except Exception as error:
        _set(job_id, status=Status.FAILED, error=str(error) or type(error).__name__,
             finished_at=timezone.now())
        raise
    _set(job_id, status=Status.SUCCEEDED, figures=figures, done=F("total"), stage="done",
         finished_at=timezone.now())
    job.refresh_from_db()
    return job


def _set(job_id, **fields):
    IdentifierTypeJob.objects.filter(pk=job_id).update(heartbeat_at=timezone.now(), **fields)


# -- recompute ------------------------------------------------------------------------------------


def _recompute(job):
    type_ = job.identifier_type
    profile_ids = _profiles_to_detect(type_, job.changes)
    candidate_count = len(_open_candidates_holding(type_))
    _set(job.pk, total=len(profile_ids) + candidate_count, done=0)
    figures = {}
    if profile_ids:
        _set(job.pk, stage="finding suspected duplicates")
        figures["detection"] = _detect(job.pk, profile_ids)
    _set(job.pk, stage="recomputing blocking reasons")
    candidate_ids = _open_candidates_holding(type_)
    done = len(profile_ids)
    _set(job.pk, total=done + len(candidate_ids), done=done)
    changed = 0
    for chunk in chunks(candidate_ids, CHUNK):
        with transaction.atomic():
            changed += refresh_blocking_codes(chunk)
        done += len(chunk)
        _set(job.pk, done=done)
    figures.update(candidates=len(candidate_ids), codes_changed=changed)
    return figures


def _detect(job_id, profile_ids):
    if len(profile_ids) > FULL_DETECTION_ABOVE:
        def progress(stage, percent):
            _set(job_id, done=len(profile_ids) * percent // 100)

        return {"full_run": True, **detect.detect_all(progress=progress)}
    totals = {}
    for done, chunk in enumerate(chunks(profile_ids, DETECT_CHUNK)):
        for name, count in detect.detect_for_profiles(chunk).items():
            totals[name] = totals.get(name, 0) + count
        _set(job_id, done=min((done + 1) * DETECT_CHUNK, len(profile_ids)))
    return totals


def _profiles_to_detect(type_, changes):
    """Profiles whose suggestions a `matchable` or `auto_merge` change makes or unmakes."""
    queries = []
    if changes.get("matchable") is True:
        queries.append(("""
            SELECT i.profile_id
            FROM (SELECT value FROM identity_identifier WHERE type_id = %(type)s
                  GROUP BY value HAVING count(*) >= 2) s
            JOIN identity_identifier i ON i.type_id = %(type)s AND i.value = s.value
            JOIN profiles_profile p ON p.id = i.profile_id AND p.status = 'active'
        """, None))
    if changes.get("matchable") is False:
        queries.append((_CANDIDATE_MEMBERS, "shared_value"))
    if "auto_merge" in changes:
        queries.append((_CANDIDATE_MEMBERS, "collision"))
    ids = set()
    with connection.cursor() as cursor:
        for sql, rule in queries:
            cursor.execute(sql, {"type": type_.pk, "evidence": _evidence(rule, type_)})
            ids.update(row[0] for row in cursor.fetchall())
    return sorted(ids)


# Members of the open candidates with evidence of a rule on the type (the evidence GIN index).
_CANDIDATE_MEMBERS = """
    SELECT m.profile_id
    FROM identity_duplicatecandidate c
    JOIN identity_candidatemember m ON m.candidate_id = c.id
    WHERE c.status = 'open' AND c.evidence @> %(evidence)s::jsonb
"""


def _evidence(rule, type_):
    return json.dumps([{"rule": rule, "type": type_.key}]) if rule else None


def _open_candidates_holding(type_):
    """Open candidates with a profile holding a value of the type: those whose blocking reasons
    a change of the type can touch."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT DISTINCT m.candidate_id
            FROM identity_candidatemember m
            JOIN identity_duplicatecandidate c ON c.id = m.candidate_id AND c.status = 'open'
            WHERE EXISTS (SELECT 1 FROM identity_identifier i
                          WHERE i.profile_id = m.profile_id AND i.type_id = %s)
            ORDER BY 1
            """,
            [type_.pk],
        )
        return [row[0] for row in cursor.fetchall()]


# -- renormalise ----------------------------------------------------------------------------------


def _renormalise(job):
    type_ = IdentifierType.objects.get(pk=job.identifier_type_id)
    total = Identifier.objects.filter(type=type_).count()
    _set(job.pk, stage=f"re-normalising values ({type_.get_normaliser_display()})",
         total=total, done=0)
    problems, problem_count, changed, done, last = [], 0, 0, 0, 0
    kept = IdentifierTypeJob.PROBLEMS_KEPT
    while True:
        rows = list(
            Identifier.objects.filter(type=type_, pk__gt=last).order_by("pk")
            .values_list("pk", "profile_id", "raw_value", "value")[:CHUNK]
        )
        if not rows:
            break
        last = rows[-1][0]
        updates, found = [], []
        for pk, profile_id, raw, value in rows:
            try:
                new = normalise(type_.normaliser, raw)
            except InvalidValue as invalid:
                found.append(_problem(pk, profile_id, raw, value, f"{invalid}; kept as it was"))
                continue
            if new != value:
                updates.append((pk, profile_id, raw, value, new))
        with transaction.atomic():
            applied, collided = _apply(updates)
            profiles_changed([profile_id for _, profile_id, *_ in applied])
        found += collided
        problem_count += len(found)
        problems += found[:kept - len(problems)]
        changed += len(applied)
        done += len(rows)
        _set(job.pk, done=done, problems=problems, problem_count=problem_count)
    return {"values": done, "changed": changed, "kept": problem_count}


def _apply(updates):
    """Set the new values (one UPDATE; row by row if one collides). Returns (applied, problems)."""
    if not updates:
        return [], []
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE identity_identifier i SET value = u.value
                FROM unnest(%s::bigint[], %s::text[]) AS u(id, value) WHERE i.id = u.id
                """,
                [[row[0] for row in updates], [row[4] for row in updates]],
            )
        return updates, []
    except IntegrityError:
        pass
    applied, problems = [], []
    for row in updates:
        pk, profile_id, raw, value, new = row
        try:
            with transaction.atomic():
                Identifier.objects.filter(pk=pk).update(value=new)
            applied.append(row)
        except IntegrityError:
            holder = (Identifier.objects.filter(type_id=Identifier.objects.get(pk=pk).type_id,
                                                value=new).exclude(pk=pk)
                      .values_list("profile_id", flat=True).first())
            where = "this profile" if holder == profile_id else f"profile {holder}"
            problems.append(_problem(
                pk, profile_id, raw, value,
                f"becomes {new!r}, which {where} already holds; kept as it was",
            ))
    return applied, problems


def _problem(pk, profile_id, raw, value, text):
    return {"identifier": pk, "profile": profile_id, "raw": raw, "value": value,
            "problem": text}
