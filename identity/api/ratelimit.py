"""The per-token rate limit of the API: API_RATE_LIMIT_PER_MINUTE requests in each minute.

A fixed one-minute window counted in Redis (INCRBY and EXPIRE in one pipeline: one round trip),
keyed by the token's hash and the minute. A window allows the limit; a client that sends its
whole minute's worth at the end of one window and the start of the next gets at most twice the
limit in any sixty seconds.

A round trip per request cost about a tenth of an API write's CPU, so each process counts its
requests itself and adds them to Redis in one INCRBY at most every SYNC_SECONDS while the token is
under half its limit; from half on, and on a token's first request of a window, every request
asks Redis. A token is thus refused at its limit give or take what the other processes let
through within SYNC_SECONDS before half of it was reached, and a token over its limit is refused
without asking Redis again until the window ends.

Redis being down never stops the API (writes must not depend on it): the limit is then not
enforced, a warning says so (once per PAUSE_SECONDS), and that Redis is not asked again for
PAUSE_SECONDS, so that no request waits on a connection attempt meanwhile.
"""

import logging
import math
import threading
import time
from dataclasses import dataclass
from functools import cache

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

WINDOW_SECONDS = 60
KEY_PREFIX = "mergeguard:ratelimit"
# How long a process keeps its count of a token under half its limit before adding it to Redis.
SYNC_SECONDS = 0.2
# Redis not answering: how long the limit is left unenforced before Redis is asked again.
PAUSE_SECONDS = 5
# How long a request waits on Redis at most; a limit not counted is better than a slow write.
TIMEOUT_SECONDS = 0.25
# Tokens whose counts a process keeps; past it, those of ended windows are dropped.
MAX_COUNTS = 10_000

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_paused_until = {}  # Redis URL -> time.time() until which it is not asked
_counts = {}  # (Redis URL, token hash) -> _Count


@dataclass(frozen=True)
class Throttled:
    limit: int  # requests per WINDOW_SECONDS
    retry_after: int  # seconds until the next window


@dataclass
class _Count:
    window: int
    known: int = 0  # the window's count in Redis when last asked (this process's requests too)
    pending: int = 0  # this process's requests not yet added to Redis
    asked_at: float = -math.inf  # time.monotonic() of the last round trip


@cache
def _redis(url):
    return redis.Redis.from_url(
        url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),
    )


def check(token_hash):
    """None when a request of the token with this hash may go on, else a Throttled.

    Counts the request. None also when the limit is off (0) or Redis does not answer."""
    limit = settings.API_RATE_LIMIT_PER_MINUTE
    if limit <= 0:
        return None
    url, now, clock = settings.REDIS_URL, time.time(), time.monotonic()
    if now < _paused_until.get(url, 0):
        return None
    window = int(now // WINDOW_SECONDS)
    throttled = Throttled(limit, max(1, math.ceil((window + 1) * WINDOW_SECONDS - now)))
    with _lock:
        count = _count(url, token_hash, window)
        if count.known > limit:
            return throttled
        count.pending += 1
        if 2 * (count.known + count.pending) <= limit and clock - count.asked_at < SYNC_SECONDS:
            return None
        adding, count.pending, count.asked_at = count.pending, 0, clock
    key = f"{KEY_PREFIX}:{token_hash[:32]}:{window}"
    try:
        with _redis(url).pipeline(transaction=False) as pipe:
            pipe.incrby(key, adding)
            pipe.expire(key, WINDOW_SECONDS)
            total, _ = pipe.execute()
    except redis.RedisError as error:
        _pause(url, now, error)
        return None
    with _lock:
        count.known = max(count.known, total)
    return throttled if total > limit else None


def _count(url, token_hash, window):
    count = _counts.get((url, token_hash))
    if count is None or count.window != window:
        if len(_counts) >= MAX_COUNTS:
            for key in [key for key, kept in _counts.items() if kept.window != window]:
                del _counts[key]
        count = _counts[url, token_hash] = _Count(window)
    return count


def _pause(url, now, error):
    with _lock:
        if now < _paused_until.get(url, 0):
            return
        _paused_until[url] = now + PAUSE_SECONDS
    logger.warning(
        "API rate limit not enforced for %s s: Redis does not answer (%s)", PAUSE_SECONDS, error,
    )
