"""Full detection runs: queued as a Celery task, or run in the process; progress on the row."""

from django.db import transaction
from django.utils import timezone

from identity.matching import detect
from identity.models import DetectionRun


def queue_detection_run():
    from identity.tasks import run_detection

    run = DetectionRun.objects.create()
    transaction.on_commit(lambda: run_detection.delay(run.pk))
    return run


def execute_detection_run(run_id, *, on_progress=None):
    """Run full detection for `run_id`, recording stage and progress as it goes."""
    run = DetectionRun.objects.get(pk=run_id)
    if run.status in (DetectionRun.Status.SUCCEEDED, DetectionRun.Status.FAILED):
        return run  # delivered again after it finished
    DetectionRun.objects.filter(pk=run_id).update(
        status=DetectionRun.Status.RUNNING, started_at=timezone.now()
    )

    def progress(stage, percent):
        DetectionRun.objects.filter(pk=run_id).update(stage=stage, progress=percent)
        if on_progress:
            on_progress(stage, percent)

    try:
        figures = detect.detect_all(progress=progress)
    except Exception as error:
        DetectionRun.objects.filter(pk=run_id).update(
            status=DetectionRun.Status.FAILED, error=str(error), finished_at=timezone.now()
        )
        raise
    DetectionRun.objects.filter(pk=run_id).update(
        status=DetectionRun.Status.SUCCEEDED, figures=figures, progress=100,
        finished_at=timezone.now(),
    )
    run.refresh_from_db()
    return run
