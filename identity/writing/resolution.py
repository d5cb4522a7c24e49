"""Resolving writes to profiles (SPEC section 3).

`resolve_writes` takes validated writes (one from the API, a batch from a CSV import) and, in one
transaction:

1. takes a transaction-scoped advisory lock on every unique (type, value) the writes carry, in
   sorted order, so writers touching the same values queue and writers on other values never
   wait;
2. loads the active profiles holding those values and locks their rows, in id order, then which
   of the writes' shared (not unique) values those profiles hold: a value many profiles share
   (a household's phone, a shop's placeholder) locks none of them;
3. resolves each write in order against that state (target, collisions, single-valued
   replacement, last-write-wins attributes), later writes of a batch seeing earlier ones;
4. writes the changes set-based.

The partial unique indexes are the backstop: an IntegrityError (or a profile merged while we
waited) retries the whole batch, a few times, then gives up with ResolutionBusy.
"""

import json
import random
import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, partial

import orjson
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from identity import hooks
from identity.candidates.lifecycle import open_collision_candidate
from identity.changes import profiles_changed
from identity.locks import lock_key
from identity.matching.rules import FEATURE_FIELDS, match_features
from identity.models import (
    IdentifierType,
    IdentityConflict,
    ProfileFeatures,
)
from identity.queries import copy_in, id_array, id_sequence, next_ids
from identity.writing.cursors import prepared_cursor
from profiles.attributes import apply_attributes
from profiles.models import Profile

ATTEMPTS = 5
# New identifiers from which a batch inserts its new rows by COPY (an import's batch) instead
# of within its one writing statement (the API's writes).
COPY_FROM_ROWS = 100


class ResolutionBusy(Exception):
    """The writes kept colliding with concurrent changes; the caller may try again later."""


class _Retry(Exception):
    """The state changed under us (a profile was merged); start the batch again."""


@dataclass
class Conflict:
    kind: str  # "collision" or "conflict" (IdentityConflict.Kind)
    type: str
    value: str
    held_by: int | None = None
    candidate_id: int | None = None
    current_value: str | None = None

    def as_json(self):
        data = {
            "kind": self.kind,
            "type": self.type,
            "value": self.value,
            "heldBy": self.held_by,
            "candidateId": self.candidate_id,
        }
        if self.current_value is not None:
            data["currentValue"] = self.current_value
        return data


@dataclass
class Resolution:
    profile_id: int
    created: bool
    conflicts: list

    def as_json(self):
        return {
            "profileId": self.profile_id,
            "created": self.created,
            "conflicts": [conflict.as_json() for conflict in self.conflicts],
        }


class Types(dict):
    """Identifier types by key, as of the md5 `fingerprint` of the types table's rows."""

    def __init__(self, types, fingerprint):
        super().__init__(types)
        self.fingerprint = fingerprint


_types = None  # the Types this process loaded last
TYPES_FINGERPRINT = (
    "SELECT md5(string_agg(t::text, ',' ORDER BY t.id)) FROM identity_identifiertype t"
)


def identifier_types(fingerprint=None):
    """All identifier types by key (a Types): the rules every write of a request or batch follows.

    Each call asks PostgreSQL for an md5 of every row of the types table (one light query,
    TYPES_FINGERPRINT) and reuses the types loaded under that fingerprint: a flag changed by any
    path (settings page, admin, SQL) is seen by the next call, never an outdated `unique` or
    `single_valued`. A caller that has just read the fingerprint in a query of its own passes it.
    """
    global _types
    if fingerprint is None:
        with connection.cursor() as cursor:
            cursor.execute(TYPES_FINGERPRINT)
            (fingerprint,) = cursor.fetchone()
    types = _types
    if types is None or types.fingerprint != fingerprint:
        # Loaded after the fingerprint was read, so never older than it.
        types = _types = Types({t.key: t for t in IdentifierType.objects.all()}, fingerprint)
    return types


def known_types():
    """The types this process loaded last, without asking PostgreSQL whether they still hold.

    For writes whose batch is given an Expected with these types' fingerprint: it checks the
    fingerprint in the statement that takes its locks, and refuses (Stale) when the table
    changed meanwhile.
    """
    return _types or identifier_types()


class Stale(Exception):
    """A write was accepted under types or a token that no longer hold; nothing was written."""


@dataclass(frozen=True)
class Expected:
    """What a batch's writes were accepted under: the fingerprints of the Types they were
    parsed with, and the ids of the API tokens that sent them. Checked inside the batch's
    transaction, before anything is written."""

    fingerprints: frozenset = frozenset()
    token_ids: frozenset = frozenset()

    # Selects the types' fingerprint and which of the token ids (a bigint[]) still hold (exist,
    # not revoked).
    SQL = (
        f"({TYPES_FINGERPRINT}), "
        "ARRAY(SELECT id FROM identity_apitoken WHERE id = ANY(%s::bigint[]) "
        "AND revoked_at IS NULL)"
    )

    def params(self):
        return [sorted(self.token_ids)]

    def check(self, fingerprint, token_ids):
        """Raise Stale unless the fingerprint and token ids read by SQL are as expected."""
        if self.fingerprints - {fingerprint} or self.token_ids - set(token_ids):
            raise Stale()


def check_expected(expected):
    """Raise Stale unless `expected` holds (inside the transaction that relies on it)."""
    with prepared_cursor() as cursor:
        cursor.execute(f"SELECT {Expected.SQL}", expected.params())
        expected.check(*cursor.fetchone())


def resolve_write(write):
    return resolve_writes([write])[0]


def resolve_writes(writes, *, on_commit=None, expected=None, load=None, after_load=None):
    """Resolve `writes` in order, in one transaction. Returns a Resolution per write.

    `on_commit`, if given, is called first when that transaction commits. `expected` (an
    Expected), if given, is checked by the batch's first statement: Stale when it fails.
    `load` (identity.writing.loads.Load), if given, lists the profiles the writes touched for
    its detection at its end, instead of their incremental detection now. `after_load`, if
    given, is called once the profiles the writes meet are loaded and locked, before anything
    is resolved (an import's next batch may start then: identity.writing.importer).
    """
    for attempt in range(ATTEMPTS):
        try:
            with transaction.atomic():
                if on_commit is not None:
                    transaction.on_commit(on_commit)
                batch = _Batch(writes, expected, after_load)
                try:
                    results = batch.resolve()
                    in_candidates = batch.profiles_in_candidates()
                    links = batch.automatic_merge_links()
                finally:
                    batch.release()
                profiles_changed(
                    batch.touched_ids, in_candidates=in_candidates, features_written=True,
                    detect=load is None,
                )
                if load is not None:
                    load.record(batch.touched_ids)
                if links:  # SPEC 3: merged automatically when nothing blocks (merges decides)
                    transaction.on_commit(partial(hooks.profiles_linked, links))
                return results
        except (_Retry, IntegrityError, OperationalError) as error:
            if isinstance(error, OperationalError) and not _is_lock_conflict(error):
                raise
            time.sleep(random.uniform(0, 0.01 * 2**attempt))
    raise ResolutionBusy("the write kept meeting concurrent changes to the same profiles")


def _is_lock_conflict(error):
    sqlstate = getattr(error.__cause__, "sqlstate", None)
    return sqlstate in ("40P01", "40001")  # deadlock detected, serialization failure


@dataclass(eq=False, slots=True)
class _Profile:
    id: int | None
    attributes: dict
    in_candidates: bool = False  # a member of some duplicate candidate
    created: bool = False
    changed: bool = False
    features_changed: bool = False
    identifiers: list = field(default_factory=list)
    # A new profile's matching features when its creating write brought them along
    # (Write.features) and no later write of the batch changed its attributes.
    features: dict | None = None

    def current(self, type_id):
        return [i for i in self.identifiers if i.type_id == type_id and i.is_current]


@dataclass(eq=False, slots=True)
class _Identifier:
    id: int | None
    profile: _Profile
    type_id: int
    value: str
    raw_value: str
    is_current: bool
    grants_access: bool
    last_seen: object
    seen: object = None  # the newest time a write of this batch saw it
    earliest: object = None  # the oldest
    made_previous: bool = False
    access_added: bool = False
    # For identifiers this batch adds:
    source: str = ""
    unique: bool = False
    single_valued: bool = False
    first_seen: object = None

    def new_row(self):
        """The values of a new identifier's row, in _NEW_IDENTIFIER_COLUMNS order."""
        return (
            self.profile.id, self.type_id, self.raw_value, self.value, self.is_current,
            self.unique, self.single_valued, self.grants_access, self.source, self.first_seen,
            self.last_seen,
        )


# The columns of a new identifier's row, with their types, in new_row() order.
_NEW_IDENTIFIER_TYPED_COLUMNS = (
    ("profile_id", "bigint"), ("type_id", "bigint"), ("raw_value", "text"), ("value", "text"),
    ("is_current", "boolean"), ("is_unique", "boolean"), ("is_single_valued", "boolean"),
    ("grants_access", "boolean"), ("source", "text"), ("first_seen", "timestamptz"),
    ("last_seen", "timestamptz"),
)
_NEW_IDENTIFIER_COLUMNS = ", ".join(name for name, _ in _NEW_IDENTIFIER_TYPED_COLUMNS)


# Identifier rows `i` as a JSON array of [id, profile_id, type_id, value, raw_value,
# is_current, grants_access, last_seen] arrays.
_IDENTIFIERS_JSON = (
    "coalesce(json_agg(json_build_array(i.id, i.profile_id, i.type_id, i.value, i.raw_value, "
    "i.is_current, i.grants_access, i.last_seen)), '[]')"
)


# Set by a batch's first statement for the rest of its transaction. Plans are generic, so
# that a connection plans each statement of the write path once, not on every batch (planning
# cost PostgreSQL more than running them). And they look rows up by index, key by key: a plan
# a connection keeps (these statements' and its foreign-key checks') may be made while the
# tables are nearly empty, when reading a table whole, by a sequential scan or by a hash or
# merge join walking an index, costs nothing; kept as the tables grow, it read the whole
# identifier index on every write. Every statement of a write finds its rows by key (at most a
# few thousand), where nested loops over indexes are right whatever the tables hold.
_PLANS = (
    "set_config('plan_cache_mode', 'force_generic_plan', true), "
    "set_config('enable_seqscan', 'off', true), "
    "set_config('enable_hashjoin', 'off', true), "
    "set_config('enable_mergejoin', 'off', true)"
)
# Long lists (an import's batch locks and looks up thousands of values) go as one text each:
# integers as an array literal (identity.queries.id_array), (type id, value) pairs as a JSON
# array of pairs (_keys, read by _KEYS). psycopg's array dumpers, text or binary, take ten
# times as long for 2,000 of them.
_LOCKS = "(SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k)"
_KEYS = "(SELECT (k->>0)::bigint, k->>1 FROM json_array_elements(%s::json) AS k)"


def _keys(pairs):
    """The parameter of _KEYS for (type id, value) pairs."""
    return orjson.dumps(pairs).decode()

# A batch's first statement: its advisory locks, and the plans' settings; with what its writes
# were accepted under (Expected) when it has that to check.
_FIRST = f"SELECT {_LOCKS}, {_PLANS}"
_FIRST_CHECKED = f"SELECT {Expected.SQL}, {_LOCKS}, {_PLANS}"


class _Batch:
    def __init__(self, writes, expected=None, after_load=None):
        self.writes = writes
        self.expected = expected
        self.after_load = after_load
        self.profiles = {}  # id -> _Profile, for loaded profiles
        # (type_id, value) -> [_Identifier]: a unique value's holders among active profiles; a
        # shared value's on the loaded profiles
        self.by_value = {}
        self.new_profiles = []
        self.new_identifiers = []
        # (target _Profile, holder _Profile, type, value, write, Conflict); ids known after flush
        self.collisions = []
        self.conflicts = []  # (target _Profile, type, value, write, Conflict)

    # -- loading -----------------------------------------------------------------------------

    def resolve(self):
        # (type id, value, unique): the values the writes carry. Only unique values are locked
        # and looked up for their holders; a value many profiles share (a household's phone, a
        # shop's placeholder) would otherwise lock every profile holding it, and queue every
        # writer carrying it behind each other.
        keys = sorted({(i.type.id, i.value, i.type.unique)
                       for w in self.writes for i in w.identifiers})
        unique = [(type_id, value) for type_id, value, is_unique in keys if is_unique]
        shared = [(type_id, value) for type_id, value, is_unique in keys if not is_unique]
        locks = sorted({lock_key(type_id, value) for type_id, value in unique})
        with prepared_cursor() as cursor:
            if self.expected is None:
                cursor.execute(_FIRST, [id_array(locks)])
            else:  # checked in the same round trip
                cursor.execute(_FIRST_CHECKED, [*self.expected.params(), id_array(locks)])
                self.expected.check(*cursor.fetchone()[:2])
            self._load(cursor, unique, shared)
        if self.after_load is not None:
            self.after_load()
        results = [self._resolve_one(write) for write in self.writes]
        self._flush()
        return [
            Resolution(profile_id=target.id, created=created, conflicts=conflicts)
            for target, created, conflicts in results
        ]

    def _load(self, cursor, unique, shared):
        # One statement: the identifiers holding the unique values (the profile's status by a
        # subquery, not a join: planning the join cost more than running the whole query),
        # and their profiles, locked in id order. As one JSON text: psycopg reads one text
        # column in C, where each column of rows costs it a loader, and each timestamp Python.
        # The identifiers are looked up value by value (LATERAL; OFFSET 0 keeps the planner
        # from joining them whole): planned on nearly empty tables, a join read every
        # identifier of a type, and each one's profile, on every write as the tables grew.
        cursor.execute(
            f"""
            WITH held AS MATERIALIZED (
                SELECT i.* FROM {_KEYS} AS k(type_id, value), LATERAL (
                    SELECT i.id, i.profile_id, i.type_id, i.value, i.raw_value, i.is_current,
                        i.grants_access, i.last_seen
                    FROM identity_identifier i
                    WHERE i.type_id = k.type_id AND i.value = k.value
                      AND (SELECT p.status FROM profiles_profile p WHERE p.id = i.profile_id)
                        = 'active'
                    OFFSET 0
                ) i
            ), locked AS MATERIALIZED (
                SELECT p.id, p.status, p.attributes,
                    EXISTS (SELECT FROM identity_candidatemember m WHERE m.profile_id = p.id)
                        AS in_candidates
                FROM profiles_profile p WHERE p.id = ANY(ARRAY(SELECT profile_id FROM held))
                ORDER BY p.id FOR UPDATE OF p
            )
            SELECT json_build_array(
                (SELECT {_IDENTIFIERS_JSON} FROM held i),
                (SELECT coalesce(json_agg(json_build_array(
                    id, status, attributes, in_candidates)), '[]') FROM locked)
            )::text
            """,
            [_keys(unique)],
        )
        rows, locked = json.loads(cursor.fetchone()[0])
        for profile_id, status, attributes, in_candidates in locked:
            if status != Profile.Status.ACTIVE:
                raise _Retry()
            self.profiles[profile_id] = _Profile(
                id=profile_id, attributes=attributes, in_candidates=in_candidates
            )
        profile_ids = sorted(self.profiles)
        if not profile_ids:
            return
        single = self._needs_single_values(rows)
        if shared or single:
            # What else of the batch's concern these profiles hold: the shared (not unique)
            # values the writes carry, on their targets; and, when a write may meet one, the
            # current values of single-valued types (to replace or refuse). In a statement of
            # its own, after the profiles are locked: it sees what a writer that held a lock
            # on one of them committed meanwhile.
            cursor.execute(
                f"""
                SELECT {_IDENTIFIERS_JSON}::text FROM identity_identifier i
                WHERE i.profile_id = ANY(%s::bigint[]) AND (
                    (%s AND i.is_single_valued AND i.is_current)
                    OR (i.type_id, i.value) IN (SELECT * FROM {_KEYS} AS k))
                """,
                [id_array(profile_ids), single, _keys(shared)],
            )
            rows += json.loads(cursor.fetchone()[0])
        loaded = {}
        for row in rows:
            if row[0] in loaded:
                continue
            ident = _Identifier(
                id=row[0], profile=self.profiles[row[1]], type_id=row[2], value=row[3],
                raw_value=row[4], is_current=row[5], grants_access=row[6],
                last_seen=datetime.fromisoformat(row[7]),
            )
            loaded[row[0]] = ident
            ident.profile.identifiers.append(ident)
            self.by_value.setdefault((ident.type_id, ident.value), []).append(ident)

    def _needs_single_values(self, rows):
        """Whether a write may meet a single-valued type's current value on its target.

        Not when every single-valued value of the batch is a unique value some loaded profile
        holds as current: each is then either on the write's target or a collision.
        """
        held = {(row[2], row[3]) for row in rows if row[5]}
        return any(
            i.type.single_valued and not (i.type.unique and (i.type.id, i.value) in held)
            for write in self.writes for i in write.identifiers
        )

    # -- resolving ---------------------------------------------------------------------------

    def _holder(self, type_id, value):
        """The active profile holding a value: its current holder, else a previous one."""
        held = self.by_value.get((type_id, value), [])
        for ident in held:
            if ident.is_current:
                return ident.profile
        return max(held, key=lambda i: i.last_seen).profile if held else None

    def _find_target(self, write):
        match = [i for i in write.identifiers if i.type.key == write.match_key]
        others = sorted(
            (i for i in write.identifiers if i.type.unique and i.type.key != write.match_key),
            key=lambda i: i.type.priority,
        )
        for candidate in match + others:
            target = self._holder(candidate.type.id, candidate.value)
            if target is not None:
                return target
        return None

    def _resolve_one(self, write):
        target = self._find_target(write)
        created = target is None
        if created:
            target = _Profile(id=None, attributes={}, created=True)
            self.new_profiles.append((target, write))
        conflicts = []
        for given in write.identifiers:
            type_ = given.type
            held = self.by_value.get((type_.id, given.value), ())
            # Loops, not next(generator): this runs for every identifier of a load.
            on_target = None
            for ident in held:
                if ident.profile is target:
                    on_target = ident
                    break
            if on_target is not None:
                self._refresh(on_target, write, given.grants_access)
                continue
            if type_.unique:
                holder = None
                for ident in held:
                    if ident.is_current:
                        holder = ident.profile
                        break
                if holder is not None:
                    conflict = Conflict("collision", type_.key, given.value)
                    self.collisions.append((target, holder, type_, given.value, write, conflict))
                    conflicts.append(conflict)
                    continue
            if type_.single_valued:
                current = target.current(type_.id)
                if current:
                    if type_.do_not_merge:
                        conflict = Conflict(
                            "conflict", type_.key, given.value, current_value=current[0].value
                        )
                        self.conflicts.append((target, type_, given.value, write, conflict))
                        conflicts.append(conflict)
                        continue
                    current[0].is_current = False
                    current[0].made_previous = True
            self._add(target, given, write)
        attributes, changed = apply_attributes(
            target.attributes, write.attributes, write.observed_at
        )
        if changed:
            if target.created:
                target.features = write.features if created else None
            elif not target.features_changed:
                target.features_changed = (
                    match_features(attributes) != match_features(target.attributes)
                )
            target.attributes = attributes
            target.changed = True
        return target, created, conflicts

    def _refresh(self, ident, write, grants_access):
        if ident.id is None:  # added earlier in this batch: not inserted yet
            ident.first_seen = min(ident.first_seen, write.observed_at)
            ident.last_seen = max(ident.last_seen, write.observed_at)
            ident.grants_access = ident.grants_access or grants_access
            return
        # The first and last sightings, whatever order the writes arrive in.
        if ident.seen is None or write.observed_at > ident.seen:
            ident.seen = write.observed_at
        if ident.earliest is None or write.observed_at < ident.earliest:
            ident.earliest = write.observed_at
        if grants_access and not ident.grants_access:
            ident.grants_access = ident.access_added = True

    def _add(self, target, given, write):
        ident = _Identifier(
            id=None, profile=target, type_id=given.type.id, value=given.value,
            raw_value=given.raw, is_current=True, grants_access=given.grants_access,
            last_seen=write.observed_at, source=write.source, unique=given.type.unique,
            single_valued=given.type.single_valued, first_seen=write.observed_at,
        )
        target.identifiers.append(ident)
        self.by_value.setdefault((ident.type_id, ident.value), []).append(ident)
        self.new_identifiers.append(ident)

    def release(self):
        """Unlink the batch's profiles from their identifiers (each names the other), so that
        they are freed when the batch is, not by the interpreter's cycle collector: an import
        makes thousands a second, and collecting them took a fifth of its resolving time."""
        for profile in [*self.profiles.values(), *(p for p, _ in self.new_profiles)]:
            profile.identifiers.clear()

    # -- writing -----------------------------------------------------------------------------

    def _flush(self):
        now = timezone.now()
        created = [p for p, _ in self.new_profiles]
        loaded = [i for p in self.profiles.values() for i in p.identifiers if i.id is not None]
        previous = [i.id for i in loaded if i.made_previous]
        refreshed = [i for i in loaded if i.seen is not None or i.access_added]
        changed = [p for p in self.profiles.values() if p.changed]
        featured = [p for p in changed if p.features_changed]
        with prepared_cursor() as cursor:  # generic plans by index (_PLANS)
            if previous:  # first: the new current values of these types go in next
                cursor.execute(
                    "UPDATE identity_identifier SET is_current = false "
                    "WHERE id = ANY(%s::bigint[])",
                    [previous],
                )
            if len(self.new_identifiers) >= COPY_FROM_ROWS:  # an import's batch: by COPY
                _copy_new_rows(cursor, created, self.new_identifiers, now)
                new_profiles, new_identifiers = [], []
            else:
                new_profiles, new_identifiers = created, self.new_identifiers
                featured = [*created, *featured]
            # A new profile is known by its place among them until the statement gives its id.
            place = {id(profile): n for n, profile in enumerate(new_profiles, 1)}
            rows = {
                "new_profiles": [p.attributes for p in new_profiles],
                "changed_profiles": [[p.id, p.attributes] for p in changed],
                "new_identifiers": [
                    [place.get(id(i.profile)), *i.new_row()] for i in new_identifiers
                ],
                "refreshed_identifiers": [
                    [i.id, i.seen, i.earliest, i.access_added] for i in refreshed
                ],
                "features": [
                    [p.id, place.get(id(p)), *map(_features(p).get, FEATURE_FIELDS)]
                    for p in featured
                ],
            }
            kinds = tuple(kind for kind in _FLUSH_KINDS if rows[kind])
            if kinds:
                params = {"now": now, "new_profiles": "[]"}  # new_profile always reads it
                for kind in kinds:
                    params[kind] = _json(rows[kind])
                    params[f"{kind}_count"] = len(rows[kind])
                cursor.execute(_flush_sql(kinds), params)
                for profile, (pk,) in zip(new_profiles, cursor.fetchall(), strict=True):
                    profile.id = pk
        self._record_conflicts()
        self.touched_ids = sorted(
            {p.id for p in [*created, *changed]}
            | {i.profile.id for i in self.new_identifiers}
            | self._collided_ids()
        )

    def automatic_merge_links(self):
        """[candidate id, target, holder] for each collision on an auto-merge type: the holder
        is to fold into the write's target (an anonymous profile into the known one)."""
        return [
            [conflict.candidate_id, target.id, holder.id]
            for target, holder, type_, _, _, conflict in self.collisions if type_.auto_merge
        ]

    def _collided_ids(self):
        return {p.id for target, holder, *_ in self.collisions for p in (target, holder)}

    def profiles_in_candidates(self):
        """The touched profiles that are in candidates (the others have no codes to refresh)."""
        members = {p.id for p in self.profiles.values() if p.in_candidates}
        return sorted(set(self.touched_ids) & members | self._collided_ids())

    def _record_conflicts(self):
        records = []
        for target, holder, type_, value, write, conflict in self.collisions:
            conflict.held_by = holder.id
            candidate = open_collision_candidate(
                target.id, holder.id, type_=type_, value=value, observed_at=write.observed_at
            )
            conflict.candidate_id = candidate.id
            records.append((IdentityConflict.Kind.COLLISION, target.id, type_.id, value,
                            holder.id, "", candidate.id, write))
        for target, type_, value, write, conflict in self.conflicts:
            conflict.held_by = target.id
            records.append((IdentityConflict.Kind.CONFLICT, target.id, type_.id, value,
                            None, conflict.current_value, None, write))
        if not records:
            return
        # One row per (kind, profile, type, value): a repeat counts, and keeps the latest facts.
        with connection.cursor() as cursor:
            cursor.executemany(
                """
                INSERT INTO identity_identityconflict AS c
                    (kind, profile_id, type_id, value, held_by_id, current_value, candidate_id,
                     source, first_observed_at, last_observed_at, times)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 1)
                ON CONFLICT (kind, profile_id, type_id, value) DO UPDATE SET
                    held_by_id = EXCLUDED.held_by_id,
                    current_value = EXCLUDED.current_value,
                    candidate_id = COALESCE(EXCLUDED.candidate_id, c.candidate_id),
                    source = EXCLUDED.source,
                    first_observed_at = LEAST(c.first_observed_at, EXCLUDED.first_observed_at),
                    last_observed_at = GREATEST(c.last_observed_at, EXCLUDED.last_observed_at),
                    times = c.times + 1
                """,
                [
                    (kind, profile_id, type_id, value, held_by, current, candidate_id,
                     write.source, write.observed_at, write.observed_at)
                    for kind, profile_id, type_id, value, held_by, current, candidate_id, write
                    in records
                ],
            )


def _copy_new_rows(cursor, created, identifiers, now):
    """Insert new profiles (ids drawn from the sequence first), their features and new
    identifiers by COPY (binary, identity.queries.copy_in): for a thousand rows, much cheaper
    than arrays a statement unnests."""
    if created:
        for profile, pk in zip(created, next_ids(cursor, "profiles_profile", len(created)),
                               strict=True):
            profile.id = pk
    # An IntegrityError (copy_in raises Django's) retries the batch.
    if created:
        copy_in(
            cursor, "profiles_profile (id, status, attributes, created_at, updated_at)",
            ["int8", "text", "jsonb", "timestamptz", "timestamptz"],
            ((p.id, Profile.Status.ACTIVE, Jsonb(p.attributes, _json_bytes), now, now)
             for p in created),
        )
        copy_in(
            cursor, f"identity_profilefeatures (profile_id, {', '.join(FEATURE_FIELDS)})",
            ["int8", *_feature_copy_types()],
            ((p.id, *map(_features(p).get, FEATURE_FIELDS)) for p in created),
        )
    copy_in(
        cursor, f"identity_identifier ({_NEW_IDENTIFIER_COLUMNS})",
        [_COPY_TYPES.get(type_, type_) for _, type_ in _NEW_IDENTIFIER_TYPED_COLUMNS],
        (i.new_row() for i in identifiers),
    )


_COPY_TYPES = {"bigint": "int8", "boolean": "bool"}  # psycopg's names of the SQL types


@cache
def _feature_copy_types():
    return [
        "date" if ProfileFeatures._meta.get_field(f).get_internal_type() == "DateField"
        else "text"
        for f in FEATURE_FIELDS
    ]


def _features(profile):
    """A profile's matching features, as match_features makes them from its attributes."""
    return profile.features or match_features(profile.attributes)


# The kinds of rows a batch writes, in the order _flush_sql writes them.
_FLUSH_KINDS = (
    "new_profiles", "changed_profiles", "new_identifiers", "refreshed_identifiers", "features"
)


def _json_bytes(value):
    """`value` as JSON (UTF-8 bytes). orjson writes it about ten times as fast as the standard
    library (a new profile's attributes: 0.8 against 11 µs); it refuses integers beyond 64
    bits, which an attribute may hold, and those go through the standard library."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(
            value, default=_isoformat, separators=(",", ":"), ensure_ascii=False
        ).encode()


def _json(rows):
    return _json_bytes(rows).decode()


def _isoformat(value):
    return value.isoformat()  # datetimes and dates; anything else is a bug: AttributeError


@cache
def _flush_sql(kinds):
    """The statement writing a batch's changes: one statement, set-based, for the `kinds` of
    rows the batch has (a tuple of names of _FLUSH_KINDS), since planning each kind costs
    PostgreSQL more than running it for a few rows. Each kind's rows come as one JSON array of
    arrays, which costs psycopg far less to send than an array per column.

    New profiles take their ids from the sequence here (returned in order); new identifiers
    and features name their profile by id, or by place among the new profiles.
    """
    feature_types = [
        ProfileFeatures._meta.get_field(f).db_type(connection) for f in FEATURE_FIELDS
    ]
    fields = ", ".join(FEATURE_FIELDS)

    def rows(kind, *columns):
        """The rows of a kind, a table of (name, type) columns: FROM rows(...).

        LIMIT their count tells the planner how many there are, for it to look a few rows up
        by index rather than scan a table (it would guess a hundred rows of JSON).
        """
        values = ", ".join(
            f"r->{n}" if type_ == "jsonb" else f"(r->>{n})::{type_}"
            for n, (_, type_) in enumerate(columns)
        )
        names = ", ".join(name for name, _ in columns)
        return (f"(SELECT {values} FROM jsonb_array_elements(%({kind})s::jsonb) AS r "
                f"LIMIT %({kind}_count)s) AS u({names})")

    def ids(kind):
        """The ids of a kind's rows (their first column) as an array: `id = ANY(...)` makes
        an update look its rows up by index, key by key, whatever the statistics its plan was
        made with (a join may read the whole table, and did, planned on small tables)."""
        return f"ARRAY(SELECT (r->>0)::bigint FROM jsonb_array_elements(%({kind})s::jsonb) AS r)"

    parts = {
        "new_profiles": """
            INSERT INTO profiles_profile (id, status, attributes, created_at, updated_at)
            SELECT id, 'active', attributes, now, now FROM new_profile, now
        """,
        "changed_profiles": f"""
            UPDATE profiles_profile p SET attributes = u.attributes, updated_at = now.now
            FROM {rows("changed_profiles", ("id", "bigint"), ("attributes", "jsonb"))}, now
            WHERE p.id = u.id AND p.id = ANY({ids("changed_profiles")})
        """,
        "new_identifiers": f"""
            INSERT INTO identity_identifier ({_NEW_IDENTIFIER_COLUMNS})
            SELECT coalesce(u.profile_id, new_profile.id),
                {", ".join(f"u.{name}" for name, _ in _NEW_IDENTIFIER_TYPED_COLUMNS[1:])}
            FROM {rows("new_identifiers", ("place", "bigint"), *_NEW_IDENTIFIER_TYPED_COLUMNS)}
            LEFT JOIN new_profile ON new_profile.n = u.place
        """,
        "refreshed_identifiers": f"""
            UPDATE identity_identifier i
            SET last_seen = GREATEST(i.last_seen, u.seen),
                first_seen = LEAST(i.first_seen, u.earliest),
                grants_access = i.grants_access OR u.access
            FROM {rows("refreshed_identifiers", ("id", "bigint"), ("seen", "timestamptz"),
                       ("earliest", "timestamptz"), ("access", "boolean"))}
            WHERE i.id = u.id AND i.id = ANY({ids("refreshed_identifiers")})
        """,
        # ProfileFeatures, the compact table detection joins on, follows the attributes.
        "features": f"""
            INSERT INTO identity_profilefeatures (profile_id, {fields})
            SELECT coalesce(u.profile_id, new_profile.id), {fields}
            FROM {rows("features", ("profile_id", "bigint"), ("place", "bigint"),
                       *zip(FEATURE_FIELDS, feature_types, strict=True))}
            LEFT JOIN new_profile ON new_profile.n = u.place
            ON CONFLICT (profile_id) DO UPDATE SET
                {", ".join(f"{f} = EXCLUDED.{f}" for f in FEATURE_FIELDS)}
        """,
    }
    assert set(parts) == set(_FLUSH_KINDS)
    return f"""
    WITH now AS (SELECT %(now)s::timestamptz AS now
    ), {id_sequence("profiles_profile")}, new_profile AS MATERIALIZED (
        SELECT nextval(sequence.id) AS id, n, attributes FROM sequence,
            jsonb_array_elements(%(new_profiles)s::jsonb) WITH ORDINALITY AS u(attributes, n)
    ){"".join(f", {kind} AS ({parts[kind]})" for kind in kinds)}
    SELECT id FROM new_profile ORDER BY n
    """
