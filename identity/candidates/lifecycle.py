"""A suspected duplicate's life, in one place (SPEC 4): opened, refreshed, reopened on new
evidence, claimed, dismissed, superseded, closed by a merge.

Every path that changes a candidate's status comes here: a write's identity collision
(`open_collision_candidate`), detection's groups (`save_detected_groups`), a steward's claim
and dismissal, a merge (`rescope_after_merge`). Whether a dismissed group comes back is
decided by one rule, `identity.matching.evidence.new_evidence`. Steward actions are audited in
their transaction.
"""

import json

from django.db import connection, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from identity import hooks
from identity.candidates.blocking_codes import (
    blocking_codes_of_groups,
    refresh_blocking_codes_of_profiles,
)
from identity.matching.evidence import evidence_key, group_evidence, is_auto_merge, new_evidence
from identity.models import CandidateMember, DuplicateCandidate
from identity.queries import chunks, copy_in, next_ids, stream
from profiles.attributes import stamp
from profiles.text import unstorable

CODES_CHUNK = 2000  # groups judged at once for their blocking codes when saved


class CannotDismiss(Exception):
    pass


class CannotClaim(Exception):
    pass


def open_collision_candidate(profile_id, other_id, *, type_, value, observed_at):
    """The duplicate candidate {profile, other} with evidence "collision on <type>".

    An open candidate of the pair gets the evidence added; a dismissed one reopens only when
    the evidence is new (SPEC 4: not suggested again unless new evidence appears).
    """
    evidence = {
        "rule": "collision",
        "type": type_.key,
        "value": value,
        "profiles": sorted([profile_id, other_id]),
        "seen": stamp(observed_at),
    }
    existing = (
        DuplicateCandidate.objects.filter(
            status__in=[DuplicateCandidate.Status.OPEN, DuplicateCandidate.Status.DISMISSED]
        )
        .filter(candidatemember__profile_id=profile_id)
        .filter(candidatemember__profile_id=other_id)
        .order_by("-updated_at")
        .first()
    )
    now = timezone.now()
    if existing is None:
        candidate = DuplicateCandidate.objects.create(
            evidence=[evidence], score=1.0, auto_merge=type_.auto_merge,
            created_at=now, updated_at=now,
        )
        CandidateMember.objects.bulk_create(
            CandidateMember(candidate=candidate, profile_id=pk) for pk in (profile_id, other_id)
        )
        return candidate
    if not new_evidence({evidence_key(e) for e in existing.evidence}, [evidence]):
        return existing
    existing.evidence = [*existing.evidence, evidence]
    existing.auto_merge = existing.auto_merge or type_.auto_merge
    existing.updated_at = now
    fields = ["evidence", "auto_merge", "updated_at"]
    reopening = existing.status == DuplicateCandidate.Status.DISMISSED
    if reopening:
        existing.status = DuplicateCandidate.Status.OPEN
        existing.closed_at = None
        fields += ["status", "closed_at"]
    existing.save(update_fields=fields)
    if reopening:
        _record_reopened(existing.pk, sorted([profile_id, other_id]), [evidence])
    return existing


def _record_reopened(candidate_id, profile_ids, evidence):
    """A dismissed group back in the queue on new evidence: the system's action, audited."""
    hooks.record_action(
        actor=None, action="candidate.reopened",
        targets={"candidate": candidate_id, "profiles": profile_ids},
        before={"status": DuplicateCandidate.Status.DISMISSED},
        after={"status": DuplicateCandidate.Status.OPEN, "new evidence": evidence},
    )


def _existing(scope):
    """Open and dismissed candidates (in scope): {frozenset(members): (id, status, keys)}.

    `keys` are a dismissed candidate's evidence keys (to see whether new evidence reopens it);
    an open candidate's evidence is not read, it is replaced.
    """
    restrict, params = "", {}
    if scope is not None:
        restrict = """AND c.id IN (SELECT candidate_id FROM identity_candidatemember
                                   WHERE profile_id = ANY(%(scope)s))"""
        params["scope"] = scope
    sql = f"""
        SELECT c.id, c.status, CASE WHEN c.status = 'dismissed' THEN c.evidence END,
               (SELECT array_agg(m.profile_id ORDER BY m.profile_id)
                  FROM identity_candidatemember m WHERE m.candidate_id = c.id)
        FROM identity_duplicatecandidate c
        WHERE c.status IN ('open', 'dismissed') {restrict}
        ORDER BY c.status = 'open', c.updated_at
    """
    existing = {}
    for candidate_id, status, evidence, members in stream(sql, params):
        if isinstance(evidence, str):  # Django leaves jsonb undecoded on raw cursors
            evidence = json.loads(evidence)
        keys = frozenset(evidence_key(item) for item in evidence or ())
        # An open candidate wins over a dismissed one of the same profiles (rows come dismissed
        # first, open last).
        existing[frozenset(members or [])] = (candidate_id, status, keys)
    return existing


def save_detected_groups(groups, *, scope):
    """Reconcile the groups detection found (identity.matching.rules.Group) with the stored
    candidates: a group of the same profiles keeps its candidate (evidence refreshed), a
    dismissed one reopens only on new evidence, an open one no longer found is superseded, a
    new group opens a candidate. `scope`: the profile ids looked at (None: all).
    """
    now = timezone.now()
    existing = _existing(scope)
    kept = set()
    creates, updates, reopens = [], [], []
    for group in groups:
        members = frozenset(group.members)
        found = existing.get(members)
        if found is None:
            creates.append(group)
            continue
        candidate_id, status, keys = found
        kept.add(candidate_id)
        if status == DuplicateCandidate.Status.OPEN:
            updates.append((candidate_id, group))
        elif new_evidence(keys, group_evidence(group)):
            reopens.append((candidate_id, group))
    superseded = [
        candidate_id for candidate_id, status, _ in existing.values()
        if status == DuplicateCandidate.Status.OPEN and candidate_id not in kept
    ]
    del existing
    with connection.cursor() as cursor:
        for rows, reopening in ((updates, False), (reopens, True)):
            for chunk in chunks(rows, 5000):
                _update(cursor, chunk, reopening=reopening, now=now)
        for chunk in chunks(superseded, 5000):
            cursor.execute(
                "UPDATE identity_duplicatecandidate SET status = 'superseded', closed_at = %s, "
                "updated_at = %s WHERE id = ANY(%s)",
                [now, now, chunk],
            )
        _create(cursor, creates, now=now)
    for candidate_id, group in reopens:
        _record_reopened(candidate_id, sorted(group.members), group_evidence(group))
    return {
        "groups": len(groups), "created": len(creates), "kept": len(updates),
        "reopened": len(reopens), "superseded": len(superseded),
    }


def _update(cursor, rows, *, reopening, now):
    """Refresh the evidence of kept candidates (id, group) from their groups; reopened ones also
    get their blocking codes (kept open ones have theirs kept current by the services that
    change their profiles).

    The rows go as one JSON document: as arrays (of jsonb, of text) psycopg quoted each
    element in Python, which took longer than the rest of a full run's saving."""
    codes = None
    if reopening:
        codes = blocking_codes_of_groups([sorted(group.members) for _, group in rows])
    updates = [[candidate_id, *_scored_evidence(group), list(codes[n]) if codes else []]
               for n, (candidate_id, group) in enumerate(rows)]
    cursor.execute(
        """
        UPDATE identity_duplicatecandidate c
        SET evidence = u.evidence, score = u.score, auto_merge = u.auto_merge, status = 'open',
            closed_at = NULL, updated_at = %s,
            blocking_codes = CASE WHEN %s THEN u.codes ELSE c.blocking_codes END
        FROM (SELECT (r->>0)::bigint AS id, r->1 AS evidence, (r->>2)::float8 AS score,
                     (r->>3)::boolean AS auto_merge,
                     ARRAY(SELECT jsonb_array_elements_text(r->4))::varchar[] AS codes
              FROM jsonb_array_elements(%s::jsonb) AS r) u
        WHERE c.id = u.id AND (c.evidence IS DISTINCT FROM u.evidence OR c.status <> 'open')
        """,
        [now, reopening, json.dumps(updates)],
    )


def _create(cursor, groups, *, now):
    """New candidates and their members by COPY, with their blocking codes.

    Ids come from the table's sequence first; the codes are computed from the profiles' state
    in chunks (identity.candidates.blocking_codes), then each group's evidence is made and
    written as it is copied, so no list of every candidate's evidence is held at once.
    """
    if not groups:
        return
    ids = next_ids(cursor, "identity_duplicatecandidate", len(groups))
    codes = []
    for chunk in chunks(groups, CODES_CHUNK):
        codes += blocking_codes_of_groups([sorted(group.members) for group in chunk])
    copy_in(
        cursor.cursor,
        "identity_duplicatecandidate (id, status, evidence, score, auto_merge, created_at, "
        "updated_at, dismiss_reason, blocking_codes)",
        ["int8", "text", "jsonb", "float8", "bool", "timestamptz", "timestamptz", "text",
         "varchar[]"],
        _candidate_rows(ids, groups, codes, now),
    )
    copy_in(
        cursor.cursor, "identity_candidatemember (candidate_id, profile_id)",
        ["int8", "int8"],
        ((pk, profile_id) for pk, group in zip(ids, groups, strict=True)
         for profile_id in sorted(group.members)),
    )


def _candidate_rows(ids, groups, codes, now):
    """A new candidate's row for each group, its evidence made as it is copied."""
    for pk, group, found in zip(ids, groups, codes, strict=True):
        evidence, score, auto_merge = _scored_evidence(group)
        yield (pk, "open", Jsonb(evidence), score, auto_merge, now, now, "", list(found))


def _scored_evidence(group):
    """A group's evidence, its candidate's score (the strongest edge's) and whether it merges
    automatically."""
    evidence = group_evidence(group)
    return evidence, max(item["score"] for item in evidence), is_auto_merge(evidence)


@transaction.atomic
def dismiss_candidate(*, candidate, reason, actor):
    """Record a group as "not a duplicate": it is not suggested again for the same profiles
    unless new evidence appears (detection reopens it then)."""
    reason = (reason or "").strip()
    if not reason:
        raise CannotDismiss("say why these are different people")
    if problem := unstorable(reason):
        raise CannotDismiss(f"the reason {problem}")
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
    hooks.record_action(
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
    hooks.record_action(
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
    hooks.record_action(
        actor=actor, action="candidate.unclaimed", targets={"candidate": candidate.pk},
        before={"assignee": actor.get_username()}, after={"assignee": None},
    )
    return candidate


def rescope_after_merge(*, survivor_id, merged_ids, merge_job_id):
    """After a merge (in its transaction): every open or dismissed candidate holding a merged
    profile holds the survivor instead; one left with fewer than two profiles is closed as
    merged, naming the merge job. Returns (closed ids, re-scoped ids).

    A dismissal re-scoped this way still says the survivor and the others are different people.
    """
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT DISTINCT m.candidate_id FROM identity_candidatemember m
            JOIN identity_duplicatecandidate c ON c.id = m.candidate_id
            WHERE m.profile_id = ANY(%s) AND c.status IN ('open', 'dismissed')
            ORDER BY 1
            """,
            [merged_ids],
        )
        affected = [row[0] for row in cursor.fetchall()]
        if not affected:
            return [], []
        cursor.execute(
            "DELETE FROM identity_candidatemember "
            "WHERE candidate_id = ANY(%s) AND profile_id = ANY(%s)",
            [affected, merged_ids],
        )
        cursor.execute(
            """
            INSERT INTO identity_candidatemember (candidate_id, profile_id)
            SELECT c, %s FROM unnest(%s::bigint[]) AS c
            ON CONFLICT (candidate_id, profile_id) DO NOTHING
            """,
            [survivor_id, affected],
        )
        cursor.execute(
            """
            UPDATE identity_duplicatecandidate c
            SET status = 'merged', closed_at = %s, updated_at = %s, blocking_codes = '{}',
                merge_job_id = %s
            WHERE c.id = ANY(%s)
              AND (SELECT count(*) FROM identity_candidatemember m WHERE m.candidate_id = c.id) < 2
            RETURNING c.id
            """,
            [now, now, merge_job_id, affected],
        )
        closed = sorted(row[0] for row in cursor.fetchall())
    return closed, [pk for pk in affected if pk not in closed]
