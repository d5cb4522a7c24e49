"""Handing work to the broker (Redis) after a commit, without depending on it.

The rows are the truth and a publish is a side effect that can fail: the outbox of detection
(identity.matching.pending), queued merge jobs, queued detection runs and identifier-type jobs
are all found again by the beat when the broker is back (config.settings CELERY_BEAT_SCHEDULE).
So `send` and `mark` log a line and answer False when the broker does not answer, and a process
that met a broker down does not try again for RETRY_AFTER seconds: writes during an outage do
not each wait for a connection. `reachable` says whether the broker answers, for the console's
"queue paused" banner, at most one ping per process every few seconds.
"""

import logging
import time
from functools import cache

import redis
from django.conf import settings
from kombu.exceptions import KombuError
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

RETRY_AFTER = 5.0  # seconds a process leaves the broker alone after a failure
TIMEOUT = 1.0  # seconds to connect to Redis or hear its answer
REACHABLE_FOR = 5.0  # seconds an answer of `reachable` is kept
BROKER_ERRORS = (KombuError, redis.RedisError, OSError)

_down_until = {}  # broker URL: monotonic time until which this process leaves it alone
_reachable = {}  # broker URL: (monotonic time checked, answer)


@cache
def client(url):
    """A Redis client that fails fast: no retries, short timeouts (one per URL and process)."""
    return redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT,
                                retry=Retry(NoBackoff(), 0))


def known_down(url=None):
    """Whether this process met the broker down less than RETRY_AFTER seconds ago."""
    return time.monotonic() < _down_until.get(url or settings.CELERY_BROKER_URL, 0.0)


def _failed(what, error):
    url = settings.CELERY_BROKER_URL
    first = not known_down(url)
    _down_until[url] = time.monotonic() + RETRY_AFTER
    _reachable[url] = (time.monotonic(), False)
    if first:
        log.warning("broker unavailable, could not %s (%s); the work waits in the database "
                    "and is resumed when the broker is back", what, error)


def send(task, *args, **options):
    """`task.apply_async(args, **options)`, or False when the broker is down (logged)."""
    if known_down():
        return False
    try:
        task.apply_async(args, retry=False, **options)
    except BROKER_ERRORS as error:
        _failed(f"queue {task.name}", error)
        return False
    return True


def mark(key, milliseconds):
    """SET key NX PX milliseconds in the broker's Redis: True when this call set it, False when
    it was set already or the broker is down (logged)."""
    if known_down():
        return False
    try:
        return bool(client(settings.REDIS_URL).set(key, 1, nx=True, px=milliseconds))
    except BROKER_ERRORS as error:
        _failed(f"set {key}", error)
        return False


def unmark(key):
    """Delete a mark set by `mark` (the broker being down is logged, not raised)."""
    try:
        client(settings.REDIS_URL).delete(key)
    except BROKER_ERRORS as error:
        _failed(f"delete {key}", error)


def reachable():
    """Whether the broker answers a ping: asked at most once every REACHABLE_FOR seconds per
    process, and False at once while this process knows it down."""
    url = settings.CELERY_BROKER_URL
    if known_down(url):
        return False
    checked, answer = _reachable.get(url, (float("-inf"), True))
    if time.monotonic() - checked < REACHABLE_FOR:
        return answer
    try:
        answer = bool(client(url).ping())
    except BROKER_ERRORS:
        answer = False
    _reachable[url] = (time.monotonic(), answer)
    return answer
