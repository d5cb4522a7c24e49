from django.core.management.base import BaseCommand, CommandError

from merges.audit.chain import COMMAND_LINE
from merges.audit.erasure import CannotErase, erase_person


class Command(BaseCommand):
    help = (
        "Right to erasure: removes the personal data of the person holding PROFILE_ID (the "
        "profile, the profiles merged into it, their identifiers, attributes and events, and "
        "the audit payloads naming them) in one transaction, and writes an erasure entry."
    )

    def add_arguments(self, parser):
        parser.add_argument("profile_id", type=int)
        parser.add_argument(
            "--reason", required=True,
            help="why, e.g. the request's reference (not the person's details)",
        )

    def handle(self, *args, profile_id, reason, **options):
        try:
            erasure = erase_person(
                profile_id=profile_id, reason=reason, actor_label=COMMAND_LINE
            )
        except CannotErase as error:
            raise CommandError(f"Nothing erased: {error}.") from None
        profiles = ", ".join(f"profile {pk}" for pk in erasure.profile_ids)
        self.stdout.write(f"Erased the person of {profiles}.")
        for what, count in erasure.removed.items():
            self.stdout.write(f"  {what}: {count}")
        self.stdout.write(f"Audit entry {erasure.entry_id} records the erasure.")
