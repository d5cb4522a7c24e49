"""/healthz: whether the database, Redis and at least one Celery worker answer, when the
audit chain was last checked and last passed (the daily beat task, verify_audit), and the long
jobs stuck past their heartbeat (their worker died: the beat queues them again)."""

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.celery import app as celery_app
from identity import heartbeat
from identity.models import DetectionRun, IdentifierTypeJob
from merges.models import AuditVerification
from merges.services import stalled_jobs

TIMEOUT = 1.0


def database_answers():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


def redis_answers():
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT
        )
        with client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def worker_answers():
    try:
        with celery_app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            replies = celery_app.control.ping(timeout=TIMEOUT, limit=1, connection=conn)
        return bool(replies)
    except Exception:
        return False


@login_not_required
@never_cache
@require_GET
def healthz(request):
    checks = {"database": database_answers(), "redis": redis_answers()}
    # Workers are reached through Redis: without it they cannot answer.
    checks["celery"] = checks["redis"] and worker_answers()
    healthy = all(checks.values())
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    if checks["database"]:
        body["audit"] = audit_chain()
        body["stalledJobs"] = stalled()
        if healthy and body["stalledJobs"]:
            body["status"] = "degraded"
    return JsonResponse(body, status=200 if healthy else 503)


def stalled():
    """Running jobs whose worker stopped answering: a heartbeat older than
    HEARTBEAT_STALE_SECONDS, or a merge running that long with its row free. Like a broken
    chain, an alarm for people ("status": "degraded"), not an outage of this server."""
    jobs = [
        {"kind": kind, "id": pk, "lastHeartbeat": beat.isoformat()}
        for kind, model in (("detection_run", DetectionRun),
                            ("identifier_type_job", IdentifierTypeJob))
        for pk, beat in heartbeat.stalled(model).order_by("pk").values_list("pk", "heartbeat_at")
    ]
    jobs += [{"kind": "merge_job", "id": pk, "started": started.isoformat()}
             for pk, started in stalled_jobs()]
    return jobs


def audit_chain():
    """The latest check of the audit chain and the latest that passed. A broken chain is an
    alarm for people, not an outage: it does not turn the answer into a 503."""
    latest = AuditVerification.objects.order_by("-id").first()
    passed = (AuditVerification.objects.filter(passed=True).order_by("-finished_at")
              .values_list("finished_at", flat=True).first())
    return {
        "lastChecked": latest.finished_at.isoformat() if latest else None,
        "lastResult": ("ok" if latest.passed else "broken") if latest else None,
        "lastPassed": passed.isoformat() if passed else None,
        **({"brokenEntry": latest.broken_entry} if latest and not latest.passed else {}),
    }
