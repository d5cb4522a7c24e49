"""Merge jobs and merge webhooks on Celery. Messages carry ids only; the rows are the truth."""

import hashlib
import hmac
import json
import urllib.request

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from merges import services
from merges.models import MergeJob
from merges.selectors import feed_entry

TRANSIENT = (OperationalError, InterfaceError)  # a lost connection, a deadlock, a restart


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=5)
def run_merge(self, job_id):
    """Execute merge job `job_id` (services.execute_merge), retrying transient database errors
    with backoff; a job that still cannot run fails with the reason."""
    try:
        services.execute_merge(job_id)
    except TRANSIENT as error:
        if self.request.retries >= self.max_retries:
            services.fail_stuck_job(
                job_id, f"the database kept failing while merging ({error.__class__.__name__}); "
                        "nothing was changed: request the merge again",
            )
            return
        raise self.retry(exc=error, countdown=2 ** self.request.retries) from error


@shared_task(acks_late=True, ignore_result=True)
def merge_linked_profiles(links):
    """Automatic merges (SPEC 3, 6): for each [candidate id, target, holder] a write linked
    through an auto-merge type, merge the holder into the write's target unless a blocking
    reason applies (then the candidate stays in the queue with that reason)."""
    for candidate_id, target, holder in links:
        try:
            job = services.request_merge(
                profile_ids=[target, holder], survivor_id=target, actor=None,
                candidate_id=candidate_id,
            )
        except services.MergeRefused:
            continue
        services.execute_merge(job.pk)


@shared_task(ignore_result=True)
def resume_merges():
    """Every minute (beat): merge jobs and automatic merges whose message was lost."""
    for job_id in services.jobs_to_resume():
        run_merge.delay(job_id)
    links = services.automatic_merges_waiting()
    if links and settings.AUTOMATIC_MERGES:
        merge_linked_profiles.delay(links)


def signature(body, secret):
    """The webhook's `X-Mergeguard-Signature` value for a body (bytes)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=8)
def deliver_merge_webhook(self, job_id):
    """POST a succeeded merge to MERGE_WEBHOOK_URL, signed with HMAC-SHA256; retried with
    exponential backoff until the receiver answers 2xx."""
    job = MergeJob.objects.get(pk=job_id)
    body = json.dumps(feed_entry(job), separators=(",", ":")).encode()
    request = urllib.request.Request(
        settings.MERGE_WEBHOOK_URL, data=body, method="POST",
        headers={"Content-Type": "application/json",
                 "X-Mergeguard-Signature": signature(body, settings.MERGE_WEBHOOK_SECRET),
                 "X-Mergeguard-Merge": str(job_id)},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
    except OSError as error:  # URLError, HTTPError (a non-2xx answer), timeouts
        raise self.retry(exc=error, countdown=min(2 ** self.request.retries, 300)) from error
