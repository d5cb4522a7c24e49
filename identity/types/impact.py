"""What an identifier-type change would do, read from the real data before it is saved (SPEC 8a).

`refusal` finds what the data forbids: a type made `unique` while profiles share a value, made
`single_valued` while profiles hold several, `auto_merge` on a type that is not unique. The
database would refuse those too (identity/migrations/0006: the flags reach the identifiers'
partial unique indexes); this says why, with a sample, before anything is tried.

`preview` counts the consequences. Blocking reasons are judged by the queue's own rules
(`blocking_codes`, which the queue's stored codes come from) over the queue's own state
(`group_states`), once as stored and once with the type's flags overridden
(`with_type_flags`): no second implementation of the rules. Only
open candidates that can change are judged: for `do_not_merge`, those where two or more
profiles hold a current value of the type; for `can_grant_access`, those where a profile holds
one that grants access. Both are found by one SQL statement first.
"""

from dataclasses import dataclass, field

from django.db import connection, transaction

from identity import hooks
from identity.candidates.blocking import (
    GroupState,
    IdentifierState,
    ProfileState,
    blocking_codes,
    is_blocked,
)
from identity.candidates.states import OVERRIDABLE_FLAGS, group_states, with_type_flags
from identity.matching.evidence import is_auto_merge
from identity.matching.rules import CONFIG
from identity.models import DuplicateCandidate, Identifier, IdentifierType
from identity.queries import chunks, heavy_query_settings, id_array
from identity.types.labels import FLAG_NAMES
from profiles.text import unstorable

CHUNK = 20_000  # candidates judged per group_states call (four queries each)
SAMPLE = 10
EDITABLE = ("label", "normaliser", "priority", *FLAG_NAMES)
MAX_PRIORITY = 32767


class InvalidChange(Exception):
    """Bad input: the field at fault and what is wrong, for a person to read."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Refusal:
    """A change the data forbids: what, why, and a sample of the data that forbids it."""

    code: str
    field: str
    message: str
    sample: list
    count: int

    def as_json(self):
        return {"code": self.code, "field": self.field, "message": self.message,
                "sample": self.sample, "count": self.count}


class ChangeRefused(Exception):
    def __init__(self, refusal):
        super().__init__(refusal.message)
        self.refusal = refusal


def parse_changes(type_, changes):
    """The fields of `changes` whose value differs from `type_`'s, checked: {field: value}."""
    if not isinstance(changes, dict):
        raise InvalidChange("changes", "changes is an object of fields and their new values")
    parsed = {}
    for name, value in changes.items():
        if name not in EDITABLE:
            raise InvalidChange(
                name, f"{name!r} cannot be changed; these can: {', '.join(EDITABLE)}"
            )
        parsed[name] = _checked(name, value)
    return {name: value for name, value in parsed.items() if getattr(type_, name) != value}


def _checked(name, value):
    if name in FLAG_NAMES:
        if not isinstance(value, bool):
            raise InvalidChange(name, f"{name} is true or false")
        return value
    if name == "normaliser":
        if value not in IdentifierType.Normaliser.values:
            raise InvalidChange(
                name, f"normaliser is one of {', '.join(IdentifierType.Normaliser.values)}"
            )
        return value
    if name == "priority":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PRIORITY:
            raise InvalidChange(name, f"priority is a whole number from 0 to {MAX_PRIORITY}")
        return value
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 100:
        raise InvalidChange(name, "label is 1 to 100 characters")
    if problem := unstorable(value):
        raise InvalidChange(name, f"the label {problem}")
    return value.strip()


def settings_after(type_, changes):
    """The type's editable settings with `changes` applied."""
    return {name: changes.get(name, getattr(type_, name)) for name in EDITABLE}


def refusal(type_, after):
    """The Refusal the data forces for a type whose settings become `after`, or None.

    `type_` is the type as stored (None for a type being added, which holds no values)."""
    if after["auto_merge"] and not after["unique"]:
        return Refusal(
            "auto_merge_needs_unique", "auto_merge",
            "Automatic merges need a unique type: a value shared by several profiles cannot "
            "say which one a write means. Make the type unique first, or leave automatic "
            "merges off.", [], 0,
        )
    if type_ is None or type_.pk is None:
        return None
    if after["unique"] and not type_.unique:
        sample, count = _shared_values(type_)
        if count:
            return Refusal(
                "values_shared", "unique",
                f"{count} value(s) of {type_.label} are held by several profiles: a unique "
                "type allows one profile per value. Merge or correct those profiles first.",
                sample, count,
            )
    if after["single_valued"] and not type_.single_valued:
        sample, count = _several_values(type_)
        if count:
            return Refusal(
                "several_values", "single_valued",
                f"{count} profile(s) hold several current values of {type_.label}: a "
                "single-valued type allows one. Remove the extra values first.",
                sample, count,
            )
    return None


def _shared_values(type_):
    """A sample of current values held by several profiles, and how many such values exist.

    The same rows the partial unique index `identifier_unique_value` would cover."""
    rows = _fetch(
        """
        SELECT value, array_agg(profile_id ORDER BY profile_id), count(*) OVER ()
        FROM identity_identifier
        WHERE type_id = %s AND is_current
        GROUP BY value HAVING count(*) > 1
        ORDER BY value LIMIT %s
        """,
        [type_.pk, SAMPLE],
    )
    return [{"value": value, "profiles": ids} for value, ids, _ in rows], (
        rows[0][2] if rows else 0
    )


def _several_values(type_):
    rows = _fetch(
        """
        SELECT profile_id, array_agg(value ORDER BY value), count(*) OVER ()
        FROM identity_identifier
        WHERE type_id = %s AND is_current
        GROUP BY profile_id HAVING count(*) > 1
        ORDER BY profile_id LIMIT %s
        """,
        [type_.pk, SAMPLE],
    )
    return [{"profile": pk, "values": values} for pk, values, _ in rows], (
        rows[0][2] if rows else 0
    )


@dataclass
class Impact:
    """The consequences of a change, before it is saved (API: `as_json`)."""

    type_key: str
    changes: dict  # field -> (before, after)
    judged: int = 0  # open candidates whose blocking reasons were judged
    become_blocked: dict = field(default_factory=dict)  # code -> candidates, unblocked before
    become_unblocked: dict = field(default_factory=dict)  # code -> candidates, blocked before
    reasons_added: dict = field(default_factory=dict)  # code -> candidates still blocked
    reasons_removed: dict = field(default_factory=dict)
    blocked_total: int = 0
    unblocked_total: int = 0
    new_pairs: int | None = None  # a `matchable` change turned on
    pair_sample: list = field(default_factory=list)  # of [profile id, profile id]
    losing_evidence: int | None = None  # a `matchable` change turned off
    auto_merges: int | None = None  # an `auto_merge` change: merges it allows
    access_cleared: int | None = None  # identifiers that stop granting access
    values_to_renormalise: int | None = None
    sample: list = field(default_factory=list)  # candidate ids

    def as_json(self):
        return {
            "type": self.type_key,
            "changes": {name: {"from": old, "to": new}
                        for name, (old, new) in self.changes.items()},
            "becomeBlocked": self.become_blocked,
            "becomeUnblocked": self.become_unblocked,
            "reasonsAdded": self.reasons_added,
            "reasonsRemoved": self.reasons_removed,
            "blockedTotal": self.blocked_total,
            "unblockedTotal": self.unblocked_total,
            "candidatesJudged": self.judged,
            "newPairs": self.new_pairs or 0,
            "pairSample": self.pair_sample,
            "losingEvidence": self.losing_evidence or 0,
            "autoMerges": self.auto_merges or 0,
            "accessCleared": self.access_cleared or 0,
            "valuesToRenormalise": self.values_to_renormalise or 0,
            "sample": self.sample,
        }

    @property
    def changes_anything(self):
        return bool(self.blocked_total or self.unblocked_total or self.reasons_added
                    or self.reasons_removed or self.new_pairs or self.losing_evidence
                    or self.auto_merges or self.access_cleared or self.values_to_renormalise)


def preview(type_, changes):
    """The Impact of `changes` (raw, as from a form or the API) on `type_`, saving nothing.

    Raises InvalidChange for bad input and ChangeRefused when the data forbids the change.
    Its statements read up to a few hundred thousand rows: one read-only transaction, without
    JIT and with sorts in memory (identity.queries.heavy_query_settings).
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            heavy_query_settings(cursor)
        return _preview(type_, changes)


def _preview(type_, changes):
    changes = parse_changes(type_, changes)
    after = settings_after(type_, changes)
    refused = refusal(type_, after)
    if refused:
        raise ChangeRefused(refused)
    impact = Impact(type_.key, {name: (getattr(type_, name), new)
                                for name, new in changes.items()})
    overrides = {name: changes[name] for name in OVERRIDABLE_FLAGS if name in changes}
    sample = set()
    if overrides:
        sample |= _blocking_impact(type_, overrides, impact)
    if "auto_merge" in changes:
        sample |= _auto_merge_impact(type_, overrides, impact)
    if changes.get("matchable") is True:
        impact.new_pairs, impact.pair_sample = _new_pairs(type_)
    elif changes.get("matchable") is False:
        impact.losing_evidence = _candidates_with_evidence(type_, "shared_value").count()
    if changes.get("can_grant_access") is False:
        impact.access_cleared = Identifier.objects.filter(
            type=type_, grants_access=True
        ).count()
    if "normaliser" in changes:
        impact.values_to_renormalise = Identifier.objects.filter(type=type_).count()
    impact.sample = sorted(sample)[:SAMPLE]
    return impact


def _blocking_impact(type_, overrides, impact):
    """Judge the candidates that can change with and without `overrides`; returns the ids of
    those whose reasons change (a sample of them when they are many).

    Most candidates' groups have one of a few shapes (two active profiles, each with a card of
    its own, say): the blocking rules look at which profiles hold equal values, not at the
    values. Each shape is judged once, on a GroupState built from it, and counts for all its
    candidates. Groups that a dismissal or a merge in progress touches are judged one by one,
    on the state `group_states` reads.
    """
    flags = {type_.key: overrides}
    shapes, one_by_one = _group_shapes(type_, overrides)
    impact.judged = sum(count for _, _, count in shapes) + len(one_by_one)
    changed = set()
    for state, candidate_ids, count in shapes:
        if _tally(impact, state, flags, count):
            changed.update(candidate_ids)
    for chunk in chunks(one_by_one, CHUNK):
        for pk, state in group_states(chunk, blocking_only=True, keep_types=flags).items():
            if _tally(impact, state, flags, 1):
                changed.add(pk)
    return changed


def _tally(impact, state, flags, count):
    """Count `count` candidates of this state into `impact`; whether their reasons change."""
    before = blocking_codes(state)
    after = blocking_codes(with_type_flags(state, flags))
    if before == after:
        return False
    if not before:
        impact.blocked_total += count
        _count(impact.become_blocked, after, count)
    elif not after:
        impact.unblocked_total += count
        _count(impact.become_unblocked, before, count)
    else:
        _count(impact.reasons_added, [c for c in after if c not in before], count)
        _count(impact.reasons_removed, [c for c in before if c not in after], count)
    return True


def _group_shapes(type_, overrides):
    """([(GroupState of a shape, a sample of its candidate ids, how many)], [candidate ids to
    judge one by one]) for the candidates that may change (`_may_change`).

    A shape is what `group_states(blocking_only=True, keep_types=[type])` reads of a group,
    with profile ids numbered 1.. in order and each type's values numbered 1.. in order within
    the group: the members' statuses and their current identifiers of "do not merge" types,
    those that grant access and those of `type_`. One statement, after the merge jobs in
    progress; the groups of a dismissal or of a merge in progress (their reasons name
    candidates and jobs) are left to be judged one by one.
    """
    in_jobs = sorted({pk for job in hooks.jobs_in_progress(None) for pk in job.profile_ids})
    judged, params = _may_change(type_, overrides)
    rows = _fetch(
        f"""
        WITH judged AS MATERIALIZED ({judged}),
        members AS MATERIALIZED (
            SELECT m.candidate_id, m.profile_id, p.status,
                   row_number() OVER (PARTITION BY m.candidate_id ORDER BY m.profile_id) AS k
            FROM judged j
            JOIN identity_candidatemember m ON m.candidate_id = j.candidate_id
            JOIN profiles_profile p ON p.id = m.profile_id
        ),
        dismissed AS MATERIALIZED (
            SELECT DISTINCT dm.profile_id
            FROM identity_duplicatecandidate dc
            JOIN identity_candidatemember dm ON dm.candidate_id = dc.id
            WHERE dc.dismissed_at IS NOT NULL
        ),
        special AS MATERIALIZED (
            SELECT DISTINCT candidate_id FROM members
            WHERE profile_id IN (SELECT profile_id FROM dismissed)
               OR profile_id = ANY(%(in_jobs)s::bigint[])
        ),
        held AS (
            SELECT mb.candidate_id, mb.k, i.type_id, i.grants_access,
                   dense_rank() OVER (PARTITION BY mb.candidate_id, i.type_id
                                      ORDER BY i.value) AS rank
            FROM members mb
            JOIN identity_identifier i ON i.profile_id = mb.profile_id AND i.is_current
            JOIN identity_identifiertype t ON t.id = i.type_id
            WHERE t.do_not_merge OR i.grants_access OR t.id = %(type)s
        ),
        member_shapes AS (
            SELECT candidate_id, string_agg(k || '=' || status, ',' ORDER BY k) AS members
            FROM members
            WHERE NOT EXISTS (SELECT 1 FROM special s WHERE s.candidate_id = members.candidate_id)
            GROUP BY candidate_id
        ),
        held_shapes AS (
            SELECT candidate_id,
                   string_agg(k || ':' || type_id || ':' || rank || ':' || grants_access::int,
                              ',' ORDER BY k, type_id, rank) AS held
            FROM held GROUP BY candidate_id
        ),
        shapes AS (
            SELECT ms.candidate_id, ms.members || '|' || coalesce(hs.held, '') AS shape
            FROM member_shapes ms LEFT JOIN held_shapes hs USING (candidate_id)
        )
        SELECT shape, (array_agg(candidate_id ORDER BY candidate_id))[1:%(sample)s], count(*)
        FROM shapes GROUP BY shape
        UNION ALL
        SELECT NULL, array_agg(candidate_id ORDER BY candidate_id), count(*) FROM special
        """,
        {**params, "in_jobs": id_array(in_jobs), "sample": SAMPLE},
    )
    types = {pk: (key, label, do_not_merge) for pk, key, label, do_not_merge in
             IdentifierType.objects.values_list("pk", "key", "label", "do_not_merge")}
    shapes = [(_shape_state(shape, types), sample, count)
              for shape, sample, count in rows if shape is not None]
    one_by_one = next((sample or [] for shape, sample, _ in rows if shape is None), [])
    return shapes, one_by_one


def _shape_state(shape, types):
    """The GroupState a shape of `_group_shapes` stands for."""
    statuses, held = shape.split("|")
    identifiers = {}
    for item in filter(None, held.split(",")):
        k, type_id, rank, grants_access = item.split(":")
        key, label, do_not_merge = types[int(type_id)]
        identifiers.setdefault(int(k), []).append(IdentifierState(
            key, label, f"value {rank}", True, grants_access == "1", do_not_merge,
        ))
    profiles = []
    for item in statuses.split(","):
        k, status = item.split("=")
        profiles.append(ProfileState(int(k), status, None, tuple(identifiers.get(int(k), ()))))
    return GroupState(tuple(profiles))


def _count(counts, codes, count=1):
    for code in codes:
        counts[code] = counts.get(code, 0) + count


def _may_change(type_, overrides):
    """(SQL, params) selecting `candidate_id` of the open candidates whose blocking reasons a
    change of these flags of `type_` can change: for `do_not_merge`, two or more of its
    profiles hold a current value of the type; for `can_grant_access`, one of them holds one
    that grants access and two or more hold some contact that does (fewer never differ)."""
    access = "can_grant_access" in overrides
    held = "(i.type_id = %(type)s OR i.grants_access)" if access else "i.type_id = %(type)s"
    return f"""
        SELECT m.candidate_id
        FROM identity_candidatemember m
        JOIN identity_duplicatecandidate c ON c.id = m.candidate_id AND c.status = 'open'
        JOIN identity_identifier i ON i.profile_id = m.profile_id AND i.is_current AND {held}
        GROUP BY m.candidate_id
        HAVING (%(do_not_merge)s
                AND count(DISTINCT m.profile_id) FILTER (WHERE i.type_id = %(type)s) >= 2)
            OR (%(access)s AND bool_or(i.grants_access AND i.type_id = %(type)s)
                AND count(DISTINCT m.profile_id) FILTER (WHERE i.grants_access) >= 2)
        """, {"type": type_.pk, "do_not_merge": "do_not_merge" in overrides, "access": access}


def _auto_merge_impact(type_, overrides, impact):
    """Open candidates linked through collisions on this type that merge automatically while
    the type is `auto_merge` (linked only by collisions on auto-merge types, and nothing blocks
    them): turning it on, the merges it allows; turning it off, those it stops."""
    auto_types = {
        key: auto for key, auto in IdentifierType.objects.values_list("key", "auto_merge")
    }
    auto_types[type_.key] = True
    candidates = dict(
        _candidates_with_evidence(type_, "collision").values_list("pk", "evidence")
    )
    allowed = set()
    flags = {type_.key: overrides} if overrides else None
    for chunk in chunks(sorted(candidates), CHUNK):
        for pk, state in group_states(chunk, type_flags=flags, blocking_only=True).items():
            evidence = [
                {**item, "auto_merge": auto_types.get(item.get("type"), False)}
                if item["rule"] == "collision" else item
                for item in candidates[pk]
            ]
            if is_auto_merge(evidence) and not is_blocked(state):
                allowed.add(pk)
    impact.auto_merges = len(allowed)
    return allowed


def _candidates_with_evidence(type_, rule):
    """Open candidates with evidence of `rule` on this type (the evidence GIN index)."""
    return DuplicateCandidate.objects.filter(
        status=DuplicateCandidate.Status.OPEN,
        evidence__contains=[{"rule": rule, "type": type_.key}],
    )


def _new_pairs(type_):
    """Pairs of active profiles sharing a value of the type (as detection would pair them: a
    junk value shared by too many makes none) that no open candidate holds together yet."""
    rows = _fetch(
        """
        WITH shared AS MATERIALIZED (
            SELECT value FROM identity_identifier WHERE type_id = %(type)s
            GROUP BY value HAVING count(*) >= 2
        ),
        holders AS MATERIALIZED (
            SELECT i.value, i.profile_id
            FROM shared s
            JOIN identity_identifier i ON i.type_id = %(type)s AND i.value = s.value
            JOIN profiles_profile p ON p.id = i.profile_id AND p.status = 'active'
        ),
        usable AS (
            SELECT value FROM holders GROUP BY value HAVING count(*) BETWEEN 2 AND %(junk)s
        ),
        pairs AS (
            SELECT DISTINCT a.profile_id AS a, b.profile_id AS b
            FROM usable u
            JOIN holders a ON a.value = u.value
            JOIN holders b ON b.value = u.value AND a.profile_id < b.profile_id
        ),
        new AS (
            SELECT a, b FROM pairs
            WHERE NOT EXISTS (
                SELECT 1 FROM identity_candidatemember ma
                JOIN identity_candidatemember mb
                  ON mb.candidate_id = ma.candidate_id AND mb.profile_id = pairs.b
                JOIN identity_duplicatecandidate c
                  ON c.id = ma.candidate_id AND c.status = 'open'
                WHERE ma.profile_id = pairs.a
            )
        )
        SELECT (SELECT count(*) FROM new),
               ARRAY(SELECT ARRAY[a, b] FROM new ORDER BY a, b LIMIT %(sample)s)
        """,
        {"type": type_.pk, "junk": CONFIG.junk_limit, "sample": SAMPLE},
    )
    count, sample = rows[0]
    return count, [list(pair) for pair in sample or []]


def _fetch(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
