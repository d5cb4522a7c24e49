"""Keeping `DuplicateCandidate.blocking_codes` in step with the profiles' state.

The queue filters on the stored codes ("blocked", "blocking reason") with a GIN index; pages
still judge each row afresh with identity.candidates.blocking. Whatever changes a group's
state calls one of these in its transaction, most through identity.changes.profiles_changed:
detection saving candidates, writes changing identifiers, dismissals, identifier edits, merge
jobs starting and finishing, identifier-type changes.
"""

from django.db import connection

from identity.candidates.blocking import blocking_codes
from identity.candidates.states import group_states, group_states_for_profile_groups
from identity.models import CandidateMember, DuplicateCandidate

CHUNK = 2000


def refresh_blocking_codes(candidate_ids):
    """Store the blocking codes of these candidates; returns how many rows changed.

    Five queries per 2,000 candidates (their group states, one UPDATE).
    """
    ids = sorted(set(candidate_ids))
    changed = 0
    for start in range(0, len(ids), CHUNK):
        states = group_states(ids[start:start + CHUNK])
        codes = {pk: blocking_codes(state) for pk, state in states.items()}
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE identity_duplicatecandidate c SET blocking_codes = u.codes::varchar[]
                FROM unnest(%s::bigint[], %s::text[]) AS u(id, codes)
                WHERE c.id = u.id AND c.blocking_codes IS DISTINCT FROM u.codes::varchar[]
                """,
                [list(codes), ["{" + ",".join(found) + "}" for found in codes.values()]],
            )
            changed += cursor.rowcount
    return changed


def blocking_codes_of_groups(groups):
    """The codes of each group of profile ids not saved as a candidate yet, in order."""
    return [blocking_codes(state)
            for state in group_states_for_profile_groups(groups, blocking_only=True)]


def refresh_blocking_codes_of_profiles(profile_ids):
    """Refresh the open candidates these profiles are in (one query when they are in none)."""
    if not profile_ids:
        return 0
    candidate_ids = list(
        CandidateMember.objects.filter(
            profile_id__in=list(profile_ids),
            candidate__status=DuplicateCandidate.Status.OPEN,
        ).values_list("candidate_id", flat=True)
    )
    return refresh_blocking_codes(candidate_ids)
