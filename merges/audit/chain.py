"""Appending to the audit chain, and checking it.

An entry's `hash` is sha256 over a canonical JSON of its own fields (id, time, actor, action,
targets, profile ids, the payload's hash) and the previous entry's hash. Entries are appended
under one advisory lock, held until the writer's transaction ends, and take their id and time
under it: ids follow the chain's order, so two writers never fork it and the check can walk it
by id.

The payload (personal values) is hashed apart, with a random salt kept beside it: the entry holds
only that hash. Erasure deletes payloads; the check counts a missing payload as erased when an
erasure entry lists it, and as broken otherwise.
"""

import functools
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from identity.locks import lock_key
from identity.models import CandidateMember
from identity.queries import copy_out
from merges.models import AuditEntry, AuditPayload, AuditVerification

CHAIN_LOCK = lock_key("audit", "chain")
ERASED = "person.erased"
COMMAND_LINE = "command line"  # the actor of a command's entries (an operator, no user)
# Target keys that name profiles: the entry's profile_ids, for the filters and the timeline.
PROFILE_KEYS = ("profile", "profiles", "survivor", "merged", "held_by")
# Target keys whose value may be a text (a type's key, a token's name); any other text may be a
# personal value and goes to the payload.
TEXT_TARGETS = ("identifier_type", "type", "api_token")

HEAD_SQL = """
    SELECT nextval(pg_get_serial_sequence('merges_auditentry', 'id')), clock_timestamp(),
           (SELECT hash FROM merges_auditentry ORDER BY id DESC LIMIT 1)
"""


def record(*, actor, action, targets, before=None, after=None, actor_label=None):
    """Append an entry in the caller's transaction; the chain is locked until it commits.

    `targets` are the objects acted on, by id (`{"candidate": 12, "profiles": [3, 4]}`); a
    value that is not an id (or a type's key) is moved to the payload with `before`/`after`.
    `actor` is a user or None (the system, or `actor_label`: a command's operator). Targets
    hold ids and type keys only, never a float: the entry's hash needs no number rule.
    """
    kept, personal = _split_targets(targets or {})
    data = {key: value for key, value in
            (("before", before), ("after", after), ("targets", personal)) if value}
    data = plain(data) if data else None
    salt = secrets.token_hex(16) if data else ""
    label = actor_label or (actor.get_username() if actor is not None else "system")
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK])
            cursor.execute(HEAD_SQL)
            pk, created_at, previous = cursor.fetchone()
        fields = {
            "id": pk, "created_at": created_at, "actor_id": actor.pk if actor else None,
            "actor_label": label, "action": action, "targets": kept,
            "profile_ids": profile_ids_of(kept, candidates=_candidates(kept)),
            "payload_hash": payload_hash(salt, data) if data else "",
            "previous_hash": previous or "",
        }
        entry = AuditEntry.objects.create(**fields, hash=entry_hash(**fields))
        if data:
            AuditPayload.objects.create(entry=entry, salt=salt, data=data)
    return entry


def _split_targets(targets):
    kept, personal = {}, {}
    for key, value in targets.items():
        if _is_id(value) or (isinstance(value, list) and all(_is_id(v) for v in value)):
            kept[key] = sorted(value) if isinstance(value, list) else value
        elif key in TEXT_TARGETS and isinstance(value, str):
            kept[key] = value
        elif value not in (None, "", []):
            personal[key] = value
    return kept, personal


def _candidates(targets):
    named = targets.get("candidate"), targets.get("candidates")
    ids = [pk for value in named if value for pk in (value if isinstance(value, list) else [value])]
    if not ids:
        return []
    return CandidateMember.objects.filter(candidate_id__in=ids).values_list("profile_id", flat=True)


def _is_id(value):
    return isinstance(value, int) and not isinstance(value, bool)


def profile_ids_of(targets, *, candidates=()):
    """The profiles an entry names, and the members of the candidates it names (a claim names
    only its candidate, and still belongs on those profiles' timelines)."""
    ids = set(candidates)
    for key in PROFILE_KEYS:
        value = targets.get(key)
        if isinstance(value, list):
            ids.update(value)
        elif value is not None:
            ids.add(value)
    return sorted(ids)


def plain(value):
    """`value` as the database gives it back: JSON types only (dates as ISO text), whole floats
    as integers (jsonb keeps numbers as numerics: 2.0 may come back as 2, 1e20 as an integer)."""
    return _DECODER.decode(json.dumps(value, cls=DjangoJSONEncoder))


def _number(text):
    value = float(text)
    return int(value) if value.is_integer() else value


# Made once: json.dumps and json.loads with options build a new encoder or decoder each call.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_DECODER = json.JSONDecoder(parse_float=_number)


def _canonical(value):
    return _ENCODER.encode(value)


@functools.lru_cache(maxsize=4096)
def _quoted(text):
    """A repeated text (an actor, an action) as JSON, encoded once."""
    return _ENCODER.encode(text)


def _timestamp(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def payload_hash(salt, data):
    return hashlib.sha256((salt + _canonical(data)).encode()).hexdigest()


def entry_hash(*, id, created_at, actor_id, actor_label, action, targets, profile_ids,
               payload_hash, previous_hash):
    """sha256 of the canonical JSON array of the entry's fields, in this order."""
    return _digest(id, _timestamp(created_at), actor_id, actor_label, action, _canonical(targets),
                   _canonical(list(profile_ids)), payload_hash, previous_hash)


def _digest(pk, stamp, actor_id, actor_label, action, targets, profile_ids, payload_hash,
            previous_hash):
    """The same array as _canonical would write it, spliced from parts already canonical
    (`targets` and `profile_ids` as JSON text): the check hashes a million entries."""
    content = (f'[{pk},"{stamp}",{"null" if actor_id is None else actor_id},'
               f'{_quoted(actor_label)},{_quoted(action)},{targets},{profile_ids},'
               f'"{payload_hash}","{previous_hash}"]')
    return hashlib.sha256(content.encode()).hexdigest()


# -- the check ----------------------------------------------------------------------------------


@dataclass
class ChainCheck:
    entries: int = 0
    erased: int = 0  # payloads removed by an erasure: not a break
    broken_entry: int | None = None
    problem: str = ""

    @property
    def passed(self):
        return self.broken_entry is None

    def describe(self):
        if self.passed:
            erased = f", {self.erased:,} payload(s) erased" if self.erased else ""
            return f"OK: {self.entries:,} audit entries verified{erased}."
        return (f"BROKEN at audit entry {self.broken_entry}: {self.problem} "
                f"({self.entries:,} entries before it verified).")


CHECK_SQL = """
    SELECT e.id, to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           e.actor_id, e.actor_label, e.action, e.targets::text,
           array_to_json(e.profile_ids)::text, e.payload_hash, e.previous_hash, e.hash, p.salt,
           p.data::text
    FROM merges_auditentry e LEFT JOIN merges_auditpayload p ON p.entry_id = e.id
    ORDER BY e.id
"""


CHECK_TYPES = ["int8", "text", "int4", "text", "text", "text", "text", "text", "text", "text",
               "text", "text"]


def verify_chain():
    """Recompute every hash in id order, in one snapshot; the first broken entry stops the walk.

    The entries come through COPY TO STDOUT: streamed in constant memory, and PostgreSQL keeps
    sending while Python hashes (a cursor would wait for each batch in turn).
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        with connection.cursor() as cursor:
            if outermost:  # else the caller's transaction is the snapshot
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            erased = _erased_payloads(cursor)
        rows = copy_out(CHECK_SQL, [], CHECK_TYPES)
        try:
            return _walk(rows, erased)
        finally:
            rows.close()


def _walk(rows, erased):
    check = ChainCheck()
    previous_hash = ""
    suspect = None  # (entry id, its recomputed hash): decided by the next entry
    for row in rows:
        (pk, created_at, actor_id, actor_label, action, targets, profile_ids,
         stored_payload_hash, stored_previous, stored_hash, salt, data) = row
        if suspect is not None:
            return _content_or_hash(check, suspect, stored_previous)
        if stored_previous != previous_hash:
            return _broken(check, pk, _link_problem(check))
        digest = _digest(pk, created_at, actor_id, actor_label, action,
                         _canonical(_DECODER.decode(targets)), profile_ids,
                         stored_payload_hash, stored_previous)
        if digest != stored_hash:
            suspect = (pk, stored_hash)
            continue
        if salt is not None:
            if not stored_payload_hash:
                return _broken(check, pk, "it has a payload its hash does not cover")
            if payload_hash(salt, _DECODER.decode(data)) != stored_payload_hash:
                return _broken(check, pk, "its payload was changed (names, values or "
                                          "reasons differ from what was recorded)")
        elif stored_payload_hash:
            if pk not in erased:
                return _broken(check, pk, "its payload is missing and no erasure removed it")
            check.erased += 1
        check.entries += 1
        previous_hash = stored_hash
    if suspect is not None:
        return _content_or_hash(check, suspect, None)
    return check


def _erased_payloads(cursor):
    """Entries whose payload an erasure removed: the erasure entries list them (ids only).
    Read in the check's snapshot; the walk verifies the erasure entries themselves."""
    cursor.execute(
        "SELECT jsonb_array_elements_text(targets -> 'payloads_erased')::bigint "
        "FROM merges_auditentry WHERE action = %s", [ERASED],
    )
    return {row[0] for row in cursor.fetchall()}


def _link_problem(check):
    if check.entries == 0:
        return "it is the first entry, but names a previous hash (entries before it are gone)"
    return ("its previous_hash is not the hash of the entry before it (an entry was removed, "
            "inserted or changed)")


def _content_or_hash(check, suspect, next_previous):
    pk, stored_hash = suspect
    if next_previous is not None and next_previous != stored_hash:
        return _broken(check, pk, "its stored hash was changed")
    return _broken(check, pk, "its content does not match its hash (a field was changed)")


def _broken(check, pk, problem):
    check.broken_entry, check.problem = pk, problem
    return check


def verify_and_remember():
    """Check the chain and keep the outcome (verify_audit, the daily task, /healthz)."""
    started = timezone.now()
    check = verify_chain()
    AuditVerification.objects.create(
        started_at=started, finished_at=timezone.now(), passed=check.passed,
        entries=check.entries, erased=check.erased, broken_entry=check.broken_entry,
        problem=check.problem,
    )
    return check
