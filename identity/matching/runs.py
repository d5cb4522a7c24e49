"""Full detection runs: queued as a Celery task, or run in the process; progress and a
heartbeat on the row (identity.heartbeat: a run whose worker died is queued again)."""

from django.db import transaction
from django.utils import timezone

from identity import broker, heartbeat
from identity.matching import detect, pending
from identity.models import DetectionRun

# When a full run serves better than incremental detection of the profiles some writes touched:
# incremental costs about 0.5-5 ms a profile, a full run a few seconds plus well under 0.1 ms a
# profile of the table (measured: 7.7 s at 18,000 profiles, 20-35 s at a million). So a full run
# once they are this share of the active profiles (an import, identity.writing.loads; a backlog
# of the detection outbox, identity.matching.pending).
FULL_RUN_SHARE = 0.05


def queue_detection_run():
    """A queued run, sent to a worker when the caller's transaction commits; with the broker
    down it waits queued, and the beat sends it when the broker is back."""
    from identity.tasks import run_detection

    run = DetectionRun.objects.create()
    transaction.on_commit(lambda: broker.send(run_detection, run.pk))
    return run


def execute_detection_run(run_id, *, on_progress=None):
    """Run full detection for `run_id`, recording stage and progress as it goes. A run that
    another delivery is running (its heartbeat beats), or that ended, is left alone."""
    if not heartbeat.claim(DetectionRun, run_id):
        return DetectionRun.objects.get(pk=run_id)
    with heartbeat.beating(DetectionRun, run_id):
        return _detect(run_id, on_progress)


def _detect(run_id, on_progress):
    def progress(stage, percent):
        DetectionRun.objects.filter(pk=run_id).update(
            stage=stage, progress=percent, heartbeat_at=timezone.now()
        )
        if on_progress:
            on_progress(stage, percent)

    try:
        figures = detect.detect_all(progress=progress)
    except Exception as error:
        with transaction.atomic():
            DetectionRun.objects.filter(pk=run_id).update(
                status=DetectionRun.Status.FAILED, error=str(error), finished_at=timezone.now()
            )
            pending.end_full_run(run_id, succeeded=False)
        raise
    # The weights it learned are kept with the run: incremental detection uses them until the
    # next full run (identity.matching.learning.current_weights).
    weights = figures.pop("weights", {})
    with transaction.atomic():
        DetectionRun.objects.filter(pk=run_id).update(
            status=DetectionRun.Status.SUCCEEDED, figures=figures, weights=weights, progress=100,
            finished_at=timezone.now(),
        )
        pending.end_full_run(run_id, succeeded=True)
    return DetectionRun.objects.get(pk=run_id)
