from django.core.management.base import BaseCommand, CommandError

from merges.audit.chain import verify_and_remember


class Command(BaseCommand):
    help = (
        "Checks the whole audit chain: prints OK and the count, or the first broken entry and "
        "why, and exits non-zero when it is broken. Erased payloads are counted apart."
    )

    def handle(self, *args, **options):
        check = verify_and_remember()
        if not check.passed:
            raise CommandError(check.describe(), returncode=1)
        self.stdout.write(check.describe())
