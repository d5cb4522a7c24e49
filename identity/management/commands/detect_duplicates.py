import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from identity.matching.runs import execute_detection_run, queue_detection_run
from identity.models import DetectionRun


class Command(BaseCommand):
    help = (
        "Full duplicate detection. By default a Celery worker runs it and this command follows "
        "its progress (a run whose worker died is queued again by the beat, and followed); "
        "it stops waiting, with the reason, when no worker has shown a sign of life for "
        "HEARTBEAT_STALE_SECONDS + RECOVERY_SECONDS. --sync runs it in this process."
    )

    def add_arguments(self, parser):
        parser.add_argument("--sync", action="store_true", help="run here, not in a worker")
        parser.add_argument(
            "--no-wait", action="store_true", help="queue the run and return at once"
        )

    def handle(self, *args, sync=False, no_wait=False, **options):
        bar = tqdm(
            total=100, unit="%", desc="detecting", file=options.get("stderr") or sys.stderr
        )
        if sync:
            run = DetectionRun.objects.create()

            def advance(stage, percent):
                bar.set_description(stage)
                bar.update(percent - bar.n)

            run = execute_detection_run(run.pk, on_progress=advance)
        else:
            run = queue_detection_run()
            self.stdout.write(f"Detection run {run.pk} queued.")
            if no_wait:
                return
            while run.status not in (DetectionRun.Status.SUCCEEDED, DetectionRun.Status.FAILED):
                time.sleep(0.5)
                run.refresh_from_db()
                bar.set_description(run.stage or run.status)
                bar.update(run.progress - bar.n)
                silent = (timezone.now() - run.heartbeat_at).total_seconds()
                if silent > settings.HEARTBEAT_STALE_SECONDS + settings.RECOVERY_SECONDS:
                    bar.close()
                    raise CommandError(_silent(run, silent))
        bar.close()
        if run.status == DetectionRun.Status.FAILED:
            raise CommandError(f"detection run {run.pk} failed: {run.error}")
        figures = run.figures
        self.stdout.write(
            f"Detection run {run.pk}: {figures['groups']} groups, {figures['created']} new, "
            f"{figures['reopened']} reopened, {figures['superseded']} superseded, "
            f"{figures['junk_values']} junk values, in "
            f"{(run.finished_at - run.started_at).total_seconds():.1f} s."
        )


def _silent(run, seconds):
    """Why the command stops following `run`, and what to do."""
    since = f"for {seconds:.0f} s"
    if run.status == DetectionRun.Status.QUEUED:
        what = f"detection run {run.pk} has been waiting {since} and no worker has taken it"
    else:
        what = (f"detection run {run.pk} stopped at {run.stage or 'its start'} "
                f"({run.progress}%): its worker has not answered {since}")
    return (f"{what}. Is a Celery worker running with the beat (`celery -A config worker -B`, "
            f"or a separate `celery -A config beat`)? The beat queues the run again and a "
            f"worker finishes it; nothing is lost. Follow it on the dashboard, or run "
            f"`manage.py detect_duplicates --sync` to detect in this process.")
