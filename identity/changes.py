"""One hook for "these profiles changed": every writer calls `profiles_changed` in its
transaction after changing profiles' identifiers, attributes or status (writes, imports,
identifier edits; next, merges and identifier-type changes).

It keeps what depends on a profile's state in step: the stored blocking codes of the open
candidates it is in (the queue filters on them), its matching features (the compact table
detection joins on), and incremental detection: left in the outbox in the same transaction
(identity.matching.pending), so it is committed with the write whether or not the broker is up.
"""

from django.conf import settings

from identity.candidates.blocking_codes import refresh_blocking_codes_of_profiles
from identity.matching.pending import leave_for_detection
from identity.matching.rules import FEATURE_FIELDS, match_features
from identity.models import ProfileFeatures
from profiles.models import Profile


def profiles_changed(profile_ids, *, in_candidates=None, features_written=False, detect=True):
    """Refresh blocking codes and features of these profiles and queue their detection.

    A writer that knows which of them are in candidates passes `in_candidates` (the others
    have no codes to refresh: no query); one that wrote the features itself, set-based with its
    other rows (resolution), passes `features_written`. A load that runs one detection over
    everything it touched at its end (identity.writing.loads) passes `detect=False`.
    """
    ids = sorted(set(profile_ids))
    if not ids:
        return
    refresh_blocking_codes_of_profiles(ids if in_candidates is None else in_candidates)
    if not features_written:
        refresh_features(ids)
    if detect and settings.DETECT_ON_WRITE:
        leave_for_detection(ids)


def refresh_features(profile_ids):
    """Rewrite the matching features of these profiles from their attributes; a profile no
    longer active has none (detection looks at active profiles only)."""
    rows = Profile.objects.filter(pk__in=profile_ids).values_list("pk", "status", "attributes")
    active = {pk: attributes for pk, status, attributes in rows if status == Profile.Status.ACTIVE}
    ProfileFeatures.objects.filter(profile_id__in=profile_ids).exclude(
        profile_id__in=list(active)
    ).delete()
    ProfileFeatures.objects.bulk_create(
        [ProfileFeatures(profile_id=pk, **match_features(attributes))
         for pk, attributes in active.items()],
        update_conflicts=True, unique_fields=["profile"], update_fields=FEATURE_FIELDS,
    )
