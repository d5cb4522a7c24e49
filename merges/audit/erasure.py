"""A person's right to erasure (SPEC 7, 11: `erase_person`), keeping the audit chain verifiable.

The person is the active profile a given id lands on and every profile merged into it. In one
transaction: their merge jobs, collisions, suspected duplicates, events, identifiers, matching
features and profiles are deleted, and so are the audit payloads that name them (the entries that
name these profiles, and any payload or stored API response holding one of their identifier
values). The entries stay, with the payloads' hashes: `verify_audit` counts those payloads as
erased, because the erasure entry written last lists them. That entry holds ids and counts only.
"""

from dataclasses import dataclass

import pgtrigger
from django.db import DatabaseError, connection, transaction
from django.db.models import Q

from identity.changes import profiles_changed
from identity.models import DuplicateCandidate, IdempotencyRecord, IdentityConflict
from merges.audit.chain import ERASED, record
from merges.audit.selectors import person_profiles
from merges.models import MergeJob
from merges.selectors import jobs_in_progress
from profiles.models import Profile
from profiles.text import unstorable

PAYLOAD_DELETE = "merges.AuditPayload:erasure_only"


class CannotErase(Exception):
    pass


@dataclass(frozen=True)
class Erasure:
    profile_ids: list
    removed: dict  # what was deleted: {"profiles": n, "identifiers": n, ...}
    entry_id: int  # the erasure's own audit entry


def person_of(profile_id):
    """The ids of the person holding `profile_id`: its survivor and all merged into it."""
    profile = Profile.objects.filter(pk=profile_id).first()
    if profile is None:
        raise CannotErase(f"there is no profile {profile_id}")
    return person_profiles([profile.pk])


@transaction.atomic
def erase_person(*, profile_id, reason, actor=None, actor_label=None):
    """Remove the personal data of the person holding `profile_id`, all or nothing."""
    reason = (reason or "").strip()
    if not reason:
        raise CannotErase("say why (the request's reference, not the person's details)")
    if problem := unstorable(reason):
        raise CannotErase(f"the reason {problem}")
    ids = person_of(profile_id)
    # Writes and merges take the profile rows too: nothing moves to or from them meanwhile.
    list(Profile.objects.select_for_update().filter(pk__in=ids).order_by("pk").values("pk"))
    if busy := jobs_in_progress(ids):
        raise CannotErase(f"merge job {busy[0].job_id} holding profile(s) of this person has "
                          "not finished: erase when it has")
    removed = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT v FROM identity_identifier, LATERAL (VALUES (value), (raw_value)) "
            "AS t(v) WHERE profile_id = ANY(%s) AND v <> ''", [ids],
        )
        patterns = [f"%{_like(row[0])}%" for row in cursor.fetchall()]
        payloads = _payloads_naming(cursor, ids, patterns)
        with pgtrigger.ignore(PAYLOAD_DELETE):
            cursor.execute("DELETE FROM merges_auditpayload WHERE entry_id = ANY(%s)", [payloads])
        removed["audit payloads"] = cursor.rowcount
        jobs = MergeJob.objects.filter(survivor_id__in=ids) | MergeJob.objects.filter(
            merged_profile_ids__overlap=ids
        )
        job_ids = sorted(jobs.values_list("pk", flat=True))
        removed["merge jobs"] = jobs.delete()[1].get("merges.MergeJob", 0)
        removed["identity conflicts"] = IdentityConflict.objects.filter(
            Q(profile_id__in=ids) | Q(held_by_id__in=ids)
        ).delete()[1].get("identity.IdentityConflict", 0)
        candidates = DuplicateCandidate.objects.filter(candidatemember__profile_id__in=ids)
        others = sorted(set(
            DuplicateCandidate.profiles.through.objects.filter(candidate__in=candidates)
            .exclude(profile_id__in=ids).values_list("profile_id", flat=True)
        ))
        candidate_ids = sorted(set(candidates.values_list("pk", flat=True)))
        removed["suspected duplicates"] = DuplicateCandidate.objects.filter(
            pk__in=candidate_ids
        ).delete()[1].get("identity.DuplicateCandidate", 0)
        removed["stored API responses"] = IdempotencyRecord.objects.filter(
            pk__in=_responses_naming(cursor, ids, patterns)
        ).delete()[0]
        for label, table in (("events", "profiles_profileevent"),
                             ("identifiers", "identity_identifier")):
            cursor.execute(f"DELETE FROM {table} WHERE profile_id = ANY(%s)", [ids])
            removed[label] = cursor.rowcount
        cursor.execute("DELETE FROM identity_profilefeatures WHERE profile_id = ANY(%s)", [ids])
        cursor.execute("DELETE FROM profiles_profile WHERE id = ANY(%s)", [ids])
        removed["profiles"] = cursor.rowcount
        try:
            # A row elsewhere still pointing at these profiles fails here, by name, not at commit.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        except DatabaseError as error:
            raise CannotErase(f"something still refers to this person: {error}") from error
    profiles_changed(others)
    entry = record(
        actor=actor, actor_label=actor_label, action=ERASED,
        targets={"profiles": ids, "payloads_erased": payloads,
                 "candidates_erased": candidate_ids, "merge_jobs_erased": job_ids},
        after={"reason": reason, "removed": removed},
    )
    return Erasure(profile_ids=ids, removed=removed, entry_id=entry.pk)


def _like(value):
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _payloads_naming(cursor, ids, patterns):
    """Payloads of the entries naming these profiles, and any holding one of their values."""
    cursor.execute(
        """
        SELECT p.entry_id FROM merges_auditpayload p
        JOIN merges_auditentry e ON e.id = p.entry_id WHERE e.profile_ids && %s::bigint[]
        UNION
        SELECT entry_id FROM merges_auditpayload WHERE data::text ILIKE ANY(%s)
        ORDER BY 1
        """,
        [ids, patterns or ["\x01never"]],
    )
    return [row[0] for row in cursor.fetchall()]


def _responses_naming(cursor, ids, patterns):
    """Stored API responses (Idempotency-Key replays) about these profiles or their values."""
    cursor.execute(
        "SELECT id FROM identity_idempotencyrecord WHERE (response_body ->> 'profileId')::text "
        "= ANY(%s) OR response_body::text ILIKE ANY(%s)",
        [[str(pk) for pk in ids], patterns or ["\x01never"]],
    )
    return [row[0] for row in cursor.fetchall()]
