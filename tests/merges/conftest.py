"""Groups to merge, made as the product makes them: writes, then detection."""

import pytest

from merges.services import execute_merge, request_merge
from profiles.models import ProfileEvent


def merge(ids, actor, **options):
    """Request a merge and run it in this process, as the worker's task does."""
    job = request_merge(profile_ids=ids, actor=actor, **options)
    return execute_merge(job.pk)


def events(profile_id, count, kind="order"):
    ProfileEvent.objects.bulk_create(
        ProfileEvent(profile_id=profile_id, kind=kind, data={"n": n}) for n in range(count)
    )


@pytest.fixture
def okafors(ken):
    """Ken Okafor's two profiles, with events (not blocked)."""
    online, till = ken
    events(online, 3)
    events(till, 5)
    return online, till
