"""The state `identity.candidates.blocking` judges, read from the database.

`group_states` serves the queue, the review page, the API and the export: four queries for any
number of candidates. `group_state_for_profiles` serves a group not saved as a candidate (the
merge confirmation page, the merge task re-checking inside its transaction), and
`group_states_for_profile_groups` the groups detection is about to save: five queries.

`type_flags` judges the same state as if identifier types had other settings, without saving
them: the identifier-type settings page previews a change with it (identity.types.impact), so
the preview and the queue run the one blocking function over the one state. It maps a type key
to the flags that differ, of `OVERRIDABLE_FLAGS`: `do_not_merge` as given; `can_grant_access`
off means none of the type's identifiers grants access (as the change will make them).
"""

from contextlib import contextmanager, nullcontext

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from identity import hooks
from identity.candidates.blocking import DismissalState, GroupState, IdentifierState, ProfileState
from identity.queries import id_array

OVERRIDABLE_FLAGS = ("do_not_merge", "can_grant_access")
# Profiles from which the states of groups are read by index whatever the planner would rather
# (_planned_by_index); for fewer it chooses indexes anyway.
BY_INDEX_FROM = 500


def group_states(candidate_ids, *, type_flags=None, blocking_only=False, keep_types=()):
    """{candidate id: GroupState} for each id asked (an id without members: an empty group),
    with the identifier types' flags of `type_flags` instead of the stored ones.

    `blocking_only` leaves out the identifiers `blocking_reasons` never looks at (previous
    values, and current ones of types that are not "do not merge" and grant no access, unless
    `type_flags` or `keep_types` name their type, for `with_type_flags` to override later):
    the same reasons from fewer rows, for callers that only judge (the impact preview judges
    up to a hundred thousand groups at once).
    """
    candidate_ids = sorted(set(candidate_ids))
    if not candidate_ids:
        return {}
    members = {candidate_id: [] for candidate_id in candidate_ids}
    profiles = {}
    rows = _fetch(
        """
        SELECT m.candidate_id, m.profile_id, p.status, p.merged_into_id
        FROM identity_candidatemember m JOIN profiles_profile p ON p.id = m.profile_id
        WHERE m.candidate_id = ANY(%s::bigint[])
        """,
        [id_array(candidate_ids)],
    )
    for candidate_id, profile_id, status, merged_into_id in rows:
        members[candidate_id].append(profile_id)
        profiles[profile_id] = (status, merged_into_id)
    kept = sorted({*keep_types, *(type_flags or ())}) if blocking_only else None
    states = _states(members, profiles, blocking_types=kept)
    if type_flags:
        return {pk: with_type_flags(state, type_flags) for pk, state in states.items()}
    return states


def with_type_flags(state, type_flags):
    """The GroupState `state` as it would be with these types' flags ({type key: {flag: on}})."""
    unknown = {flag for flags in type_flags.values() for flag in flags} - set(OVERRIDABLE_FLAGS)
    if unknown:
        raise ValueError(f"flags that change no blocking state: {', '.join(sorted(unknown))}")
    profiles = []
    for profile in state.profiles:
        if any(identifier.type_key in type_flags for identifier in profile.identifiers):
            profile = ProfileState(profile.id, profile.status, profile.merged_into_id, tuple(
                _identifier_with(identifier, type_flags[identifier.type_key])
                if identifier.type_key in type_flags else identifier
                for identifier in profile.identifiers
            ))
        profiles.append(profile)
    return GroupState(tuple(profiles), state.dismissals, state.jobs)


def _identifier_with(identifier, flags):
    return IdentifierState(
        identifier.type_key, identifier.type_label, identifier.value, identifier.is_current,
        identifier.grants_access and flags.get("can_grant_access", True),
        flags.get("do_not_merge", identifier.do_not_merge),
    )


def group_state_for_profiles(profile_ids, *, excluding_job_id=None):
    """The GroupState of these profiles (those that exist).

    The merge task passes its own job as `excluding_job_id`: the job running the merge is not a
    merge in progress that blocks it.
    """
    return group_states_for_profile_groups([profile_ids], excluding_job_id=excluding_job_id)[0]


def group_states_for_profile_groups(groups, *, excluding_job_id=None, blocking_only=False):
    """The GroupStates of these groups of profile ids (of those that exist), in order.

    Detection judges the groups it is about to save as candidates with this: five queries for
    any number of groups. `blocking_only` as for group_states (the same codes from fewer rows).
    """
    ids = {pk for group in groups for pk in group}
    with _planned_by_index() if len(ids) >= BY_INDEX_FROM else nullcontext():
        rows = _fetch(
            "SELECT id, status, merged_into_id FROM profiles_profile WHERE id = ANY(%s::bigint[])",
            [id_array(ids)],
        )
        profiles = {pk: (status, merged_into_id) for pk, status, merged_into_id in rows}
        members = {index: [pk for pk in group if pk in profiles]
                   for index, group in enumerate(groups)}
        states = _states(members, profiles, excluding_job_id=excluding_job_id,
                         blocking_types=[] if blocking_only else None)
    return [states[index] for index in range(len(groups))]


@contextmanager
def _planned_by_index():
    """For the statements inside: indexes, not whole-table scans. The profiles of a few
    thousand groups are a few thousand index probes into tables of millions of rows; the
    planner, unable to tell how few rows an id list matches, would rather read a table whole
    (the identifiers of 4,500 profiles at 100,000 profiles: 66 ms by a scan, 16 ms by index,
    and the scan grows with the table). The setting is put back afterwards (a failure rolls
    it back with the savepoint)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "WITH before AS MATERIALIZED (SELECT current_setting('enable_seqscan') AS setting) "
            "SELECT setting, set_config('enable_seqscan', 'off', true) FROM before"
        )
        (previous, _) = cursor.fetchone()
        yield
        cursor.execute("SELECT set_config('enable_seqscan', %s, true)", [previous])


def _states(members, profiles, *, excluding_job_id=None, blocking_types=None):
    """GroupStates for {key: [profile id]}, given {profile id: (status, merged_into_id)}.

    `blocking_types` (a list of type keys) reads only the identifiers blocking_reasons looks
    at, and the current ones of those types (group_states' `blocking_only`); None reads all.
    Ids go to PostgreSQL as one array literal: a hundred thousand of them cost a string join,
    not a Python call each.
    """
    ids = sorted(profiles)
    identifiers = {pk: [] for pk in ids}
    only, params = "", [id_array(ids)]
    if blocking_types is not None:
        only = "AND i.is_current AND (t.do_not_merge OR i.grants_access OR t.key = ANY(%s::text[]))"
        params.append(list(blocking_types))
    rows = _fetch(
        f"""
        SELECT i.profile_id, t.key, t.label, i.value, i.is_current, i.grants_access,
               t.do_not_merge
        FROM identity_identifier i JOIN identity_identifiertype t ON t.id = i.type_id
        WHERE i.profile_id = ANY(%s::bigint[]) {only}
        ORDER BY i.profile_id, t.key, i.is_current DESC, i.value
        """,
        params,
    )
    for profile_id, *fields in rows:
        identifiers[profile_id].append(IdentifierState(*fields))
    states = {
        pk: ProfileState(pk, status, merged_into_id, tuple(identifiers[pk]))
        for pk, (status, merged_into_id) in profiles.items()
    }
    dismissals = _by_profile(_dismissals(ids))
    jobs = _by_profile(hooks.jobs_in_progress(ids, excluding_job_id=excluding_job_id))

    groups = {}
    for key, profile_ids in members.items():
        group_ids = set(profile_ids)
        groups[key] = GroupState(
            profiles=tuple(states[pk] for pk in sorted(group_ids)),
            dismissals=tuple(d for d in _touching(dismissals, group_ids)
                             if len(d.profile_ids & group_ids) >= 2),
            jobs=_touching(jobs, group_ids),
        )
    return groups


def _by_profile(items):
    """{profile id: [(position, item)]} of DismissalStates or JobStates, so that each group
    looks at the few touching its profiles, not at all of them."""
    found = {}
    for position, item in enumerate(items):
        for pk in item.profile_ids:
            found.setdefault(pk, []).append((position, item))
    return found


def _touching(by_profile, group_ids):
    """The items holding a profile of the group, in their original order."""
    if not by_profile:
        return ()
    touching = {}
    for pk in group_ids:
        touching.update(by_profile.get(pk, ()))
    return tuple(item for _, item in sorted(touching.items(), key=lambda pair: pair[0]))


def _dismissals(profile_ids):
    """Candidates a steward dismissed that hold two or more of these profiles.

    `dismissed_at` marks them whatever their status now: a dismissal stays on record when new
    evidence reopens the candidate (SPEC 4), and still blocks the merge.
    """
    users = get_user_model()._meta
    rows = _fetch(
        f"""
        SELECT c.id,
               ARRAY(SELECT m.profile_id FROM identity_candidatemember m
                     WHERE m.candidate_id = c.id),
               u.{users.get_field(users.model.USERNAME_FIELD).column}, c.dismissed_at,
               c.dismiss_reason
        FROM identity_duplicatecandidate c
        LEFT JOIN {users.db_table} u ON u.{users.pk.column} = c.dismissed_by_id
        WHERE c.dismissed_at IS NOT NULL AND c.id IN (
            SELECT candidate_id FROM identity_candidatemember
            WHERE profile_id = ANY(%s::bigint[])
            GROUP BY candidate_id HAVING count(*) >= 2)
        ORDER BY c.dismissed_at, c.id
        """,
        [id_array(profile_ids)],
    )
    return [
        DismissalState(pk, frozenset(members), by or "", at, reason)
        for pk, members, by, at, reason in rows
    ]


def _fetch(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
