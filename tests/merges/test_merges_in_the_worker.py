"""Merge jobs on a real Celery worker: killed mid-merge, automatic merges, the webhook."""

import hashlib
import hmac
import json
import os
import signal
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection, transaction
from django.utils import timezone

from identity.models import DuplicateCandidate
from merges.models import MergeJob
from merges.services import execute_merge, request_merge
from merges.tasks import deliver_merge_webhook, resume_merges, run_merge, signature
from profiles.models import Profile, ProfileEvent
from tests.conftest import worker_process
from tests.factories import identifiers_of, wait_for, write
from tests.merges.conftest import events

pytestmark = pytest.mark.django_db(transaction=True)

# Queues of their own: the session's worker must not take these tasks, nor a worker of a later
# run the unacknowledged message a killed worker of an earlier run left behind.
QUEUE = f"merge-crash-test-{uuid.uuid4().hex[:8]}"
WEBHOOK_QUEUE = f"merge-webhook-test-{uuid.uuid4().hex[:8]}"


def test_a_worker_killed_mid_merge_leaves_nothing_and_the_job_completes_once(steward, ken):
    online, till = ken
    events(online, 30)
    events(till, 40)
    before = identifiers_of(online), identifiers_of(till)
    with transaction.atomic():
        job = request_merge(profile_ids=[online, till], actor=steward, survivor_id=online)
    # This test's own connection holds one of the events: the merge moves the identifiers,
    # then waits on that row in the middle of its transaction.
    connection.set_autocommit(False)
    connection.cursor().execute(
        "SELECT id FROM profiles_profileevent WHERE profile_id = %s LIMIT 1 FOR UPDATE", [till]
    )
    try:
        with worker_process("-Q", QUEUE, CELERY_VISIBILITY_TIMEOUT="3") as first:
            run_merge.apply_async((job.pk,), queue=QUEUE)
            assert wait_for(lambda: _waiting_on_a_lock(), every=0.1), "the merge never started"
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
    finally:
        connection.rollback()
        connection.set_autocommit(True)

    assert (identifiers_of(online), identifiers_of(till)) == before
    assert ProfileEvent.objects.filter(profile_id=till).count() == 40
    assert Profile.objects.get(pk=till).status == "active"
    assert MergeJob.objects.get(pk=job.pk).status == "running"

    time.sleep(3.5)  # past the visibility timeout: the next worker gets the job again
    with worker_process("-Q", QUEUE, CELERY_VISIBILITY_TIMEOUT="3"):
        assert wait_for(lambda: MergeJob.objects.get(pk=job.pk).status == "succeeded")

    assert ProfileEvent.objects.filter(profile_id=online).count() == 70
    assert Profile.objects.get(pk=till).merged_into_id == online
    assert MergeJob.objects.get(pk=job.pk).summary["events"] == 40


def _waiting_on_a_lock():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # read afresh inside a transaction
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE 'UPDATE profiles_profileevent%%'"
        )
        return cursor.fetchone()[0] > 0


def test_an_anonymous_id_linking_write_leaves_one_active_profile(celery_worker, settings):
    settings.AUTOMATIC_MERGES = True
    known = write({"email": "lee@example.com", "first_name": "Lee"}, "email",
                  accessContacts=["email"]).profile_id
    anonymous = write({"anonymous_id": "anon-7f3a", "city": "Leeds"}, "anonymous_id").profile_id
    events(anonymous, 4, kind="page_view")

    login = write({"email": "lee@example.com", "anonymous_id": "anon-7f3a"}, "email")

    assert login.profile_id == known
    assert wait_for(lambda: Profile.objects.get(pk=anonymous).status == "merged", seconds=30)
    assert Profile.objects.get(pk=anonymous).merged_into_id == known
    assert identifiers_of(known)["anonymous_id"] == ["anon-7f3a"]
    assert ProfileEvent.objects.filter(profile_id=known).count() == 4
    job = MergeJob.objects.get()
    assert job.requested_by is None and job.survivor_id == known


def test_a_linking_write_held_back_by_a_blocking_reason_stays_in_the_queue(
    celery_worker, settings
):
    settings.AUTOMATIC_MERGES = True
    known = write({"email": "lee@example.com", "loyalty_card": "LC-1"}, "email").profile_id
    anonymous = write({"anonymous_id": "anon-1", "loyalty_card": "LC-2"},
                      "anonymous_id").profile_id

    login = write({"email": "lee@example.com", "anonymous_id": "anon-1"}, "email")

    candidate_id = login.conflicts[0].candidate_id
    time.sleep(2)  # the worker has had time to look at it
    assert Profile.objects.get(pk=anonymous).status == "active"
    assert not MergeJob.objects.exists()
    candidate = DuplicateCandidate.objects.get(pk=candidate_id)
    assert candidate.status == "open" and candidate.auto_merge
    assert "unique_id_conflict" in candidate.blocking_codes
    assert known != anonymous


class _Receiver(BaseHTTPRequestHandler):
    received = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.headers["X-Mergeguard-Signature"], body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_each_succeeded_merge_is_posted_signed_to_the_webhook(steward, ken):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/merges"
    secret = "s3cret-for-the-test"
    online, till = ken
    job = execute_merge(
        request_merge(profile_ids=[online, till], actor=steward, survivor_id=online).pk
    )
    try:
        with worker_process("-Q", WEBHOOK_QUEUE, MERGE_WEBHOOK_URL=url,
                            MERGE_WEBHOOK_SECRET=secret):
            deliver_merge_webhook.apply_async((job.pk,), queue=WEBHOOK_QUEUE)
            assert wait_for(lambda: _Receiver.received, seconds=30)
    finally:
        server.shutdown()

    header, body = _Receiver.received[0]
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(header, expected)
    assert json.loads(body)["mergeId"] == job.pk and json.loads(body)["mergedIds"] == [till]
    # A receiver holding another secret, or a body changed on the way, fails the check.
    assert not hmac.compare_digest(header, signature(body, "another secret"))
    assert not hmac.compare_digest(header, signature(body.replace(b"}", b",\"x\":1}"), secret))


def test_the_queue_says_a_group_was_held_back_from_an_automatic_merge(client, viewer, db):
    write({"email": "lee@example.com", "loyalty_card": "LC-1"}, "email")
    write({"anonymous_id": "anon-1", "loyalty_card": "LC-2"}, "anonymous_id")
    write({"email": "lee@example.com", "anonymous_id": "anon-1"}, "email")
    client.force_login(viewer)

    page = client.get("/queue/").content.decode()

    assert "Held back from an automatic merge by these reasons" in page


def test_a_job_whose_message_was_lost_is_resumed_and_runs_once(celery_worker, steward, ken):
    online, till = ken
    long_ago = timezone.now() - timedelta(minutes=2)
    lost = MergeJob.objects.create(survivor_id=online, merged_profile_ids=[till],
                                   requested_by=steward, created_at=long_ago)
    fresh = write({"email": "fresh@example.com"}, "email").profile_id
    other = write({"email": "other@example.com"}, "email").profile_id
    just_asked = MergeJob.objects.create(survivor_id=fresh, merged_profile_ids=[other],
                                         requested_by=steward)

    resume_merges.delay()

    assert wait_for(lambda: MergeJob.objects.get(pk=lost.pk).status == "succeeded")
    assert MergeJob.objects.get(pk=just_asked.pk).status == "queued"  # its message may come
    assert Profile.objects.get(pk=till).merged_into_id == online


def test_an_automatic_merge_whose_task_was_lost_is_resumed(celery_worker, settings):
    known = write({"email": "lee@example.com"}, "email").profile_id
    anonymous = write({"anonymous_id": "anon-9"}, "anonymous_id").profile_id
    write({"email": "lee@example.com", "anonymous_id": "anon-9"}, "email")  # no task sent
    settings.AUTOMATIC_MERGES = True

    resume_merges.delay()

    assert wait_for(lambda: Profile.objects.get(pk=anonymous).merged_into_id == known)
