import sys
from functools import partial

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from identity.writing.importer import DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE, InvalidImport, import_csv


class Command(BaseCommand):
    help = (
        "Imports profiles from a CSV file: each row is a write, resolved like an API upsert. "
        "Columns named like identifier types are identifiers, the others attributes; empty cells "
        "are not given. Rows that cannot be imported go to a reject file with their reason "
        "(written only when some row is rejected); re-importing a file creates nothing new. "
        "The rows queue no detection one by one: when they are all in, one duplicate detection "
        "runs over the profiles they touched (a full run when that costs less), so the "
        "review queue is ready when the command ends."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the CSV file (UTF-8, header row first)")
        parser.add_argument(
            "--match-key", required=True, metavar="KEY",
            help="the unique identifier type each row is matched on, e.g. email",
        )
        parser.add_argument(
            "--observed-at-column", metavar="C",
            help="the column holding when each row was observed (ISO 8601; default: now)",
        )
        parser.add_argument(
            "--access-contacts", default="", metavar="K,...",
            help="comma-separated identifier columns whose values grant account access",
        )
        parser.add_argument(
            "--source", metavar="NAME", help="the source channel recorded (default: file name)"
        )
        parser.add_argument(
            "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, metavar="N",
            help=f"rows resolved per transaction (default {DEFAULT_BATCH_SIZE}, "
            f"at most {MAX_BATCH_SIZE})",
        )
        parser.add_argument(
            "--reject-file", metavar="PATH",
            help="where rejected rows go (default: FILE.rejects.csv)",
        )
        parser.add_argument(
            "--no-detect", action="store_true",
            help="skip duplicate detection at the end (run manage.py detect_duplicates later)",
        )

    def handle(self, *args, file, **options):
        stderr = options.get("stderr") or sys.stderr
        progress = partial(
            tqdm, file=stderr, unit="B", unit_scale=True, unit_divisor=1024, desc="Importing",
            mininterval=0.5,
        )
        detection_bar = None

        def detection_progress(stage, percent):
            nonlocal detection_bar
            if detection_bar is None:
                detection_bar = tqdm(total=100, unit="%", desc="Detecting", file=stderr)
            detection_bar.set_description(f"Detecting: {stage}")
            detection_bar.update(percent - detection_bar.n)

        try:
            summary = import_csv(
                file,
                match_key=options["match_key"],
                observed_at_column=options["observed_at_column"],
                access_contacts=[k.strip() for k in options["access_contacts"].split(",")
                                 if k.strip()],
                source=options["source"],
                batch_size=options["batch_size"],
                reject_path=options["reject_file"],
                progress=progress,
                detect=not options["no_detect"],
                detection_progress=detection_progress,
            )
        except InvalidImport as error:
            raise CommandError(f"{error}; nothing was imported") from None
        finally:
            if detection_bar is not None:
                detection_bar.close()

        self.stdout.write(
            f"Read {summary.rows:,} rows in {summary.seconds:.1f} s "
            f"({summary.rows_per_second:,.0f} rows/s)."
        )
        self.stdout.write(f"  profiles created:          {summary.created:,}")
        self.stdout.write(f"  rows matched to a profile: {summary.matched:,}")
        self.stdout.write(f"  conflicts reported:        {summary.conflicts:,}")
        if summary.rejected:
            self.stdout.write(
                self.style.WARNING(
                    f"  rows rejected:             {summary.rejected:,}, "
                    f"see {summary.reject_path}"
                )
            )
        else:
            self.stdout.write("  rows rejected:             0")
        if summary.blank:
            self.stdout.write(f"  blank rows skipped:        {summary.blank:,}")
        detection = summary.detection
        if detection is None:
            self.stdout.write("Duplicate detection skipped (--no-detect).")
        else:
            kind = "full run" if detection.full else "incremental"
            self.stdout.write(
                f"Duplicate detection ({kind}) over {detection.profiles:,} profiles in "
                f"{summary.detection_seconds:.1f} s: the review queue is ready."
            )
