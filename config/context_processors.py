"""Template context for every page."""

from django.utils.functional import SimpleLazyObject

from identity import broker


def broker_state(request):
    """`broker_paused`: whether the task queue's broker (Redis) does not answer, so background
    work (merges, detection, identifier-type jobs) waits. Asked only by a page that shows it,
    at most once every few seconds per process (identity.broker.reachable)."""
    return {"broker_paused": SimpleLazyObject(lambda: not broker.reachable())}
