import csv
import json

from django.core.management.base import BaseCommand

from identity.candidates.selectors import candidate_pages
from identity.models import DuplicateCandidate


class Command(BaseCommand):
    help = "Writes suspected duplicates with evidence, score and blocking reasons to stdout."

    def add_arguments(self, parser):
        parser.add_argument("--status", choices=DuplicateCandidate.Status.values)
        parser.add_argument("--format", choices=["csv", "json"], default="csv")

    def handle(self, *args, status=None, format="csv", **options):
        pages = candidate_pages(status=status, page_size=1000)
        if format == "json":
            self._json(pages)
        else:
            self._csv(pages)

    def _json(self, pages):
        # Streamed a candidate at a time: memory stays flat whatever the count.
        out = self.stdout
        out.write("[", ending="")
        first = True
        for page in pages:
            for candidate in page:
                out.write(("" if first else ",") + "\n" + json.dumps(candidate), ending="")
                first = False
        out.write("\n]")

    def _csv(self, pages):
        writer = csv.writer(self.stdout)
        writer.writerow([
            "candidate_id", "status", "score", "auto_merge", "profile_ids", "evidence_rules",
            "blocking_reasons", "evidence", "blocking_details", "created_at",
        ])
        for page in pages:
            for c in page:
                writer.writerow([
                    c["id"], c["status"], c["score"], c["autoMerge"],
                    " ".join(map(str, c["profileIds"])),
                    " ".join(sorted({e["rule"] for e in c["evidence"]})),
                    " ".join(r["code"] for r in c["blockingReasons"]),
                    json.dumps(c["evidence"]),
                    json.dumps(c["blockingReasons"]),
                    c["createdAt"],
                ])
