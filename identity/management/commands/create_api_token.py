from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from identity.api.tokens import create_api_token
from identity.models import ApiToken


class Command(BaseCommand):
    help = "Creates an API token named NAME and prints it; only its hash is kept."

    def add_arguments(self, parser):
        parser.add_argument("name", help="who or what uses the token, e.g. 'webshop'")
        parser.add_argument(
            "--user", help="the user the token acts for, with exactly that user's permissions; "
                           "without it, an integration token that may write, look up and read",
        )

    def handle(self, *args, name, user, **options):
        name = name.strip()
        longest = ApiToken._meta.get_field("name").max_length
        if not name or len(name) > longest or not name.isprintable():
            raise CommandError(
                f"a token's name is 1 to {longest} printable characters, e.g. 'webshop'"
            )
        if ApiToken.objects.filter(name=name).exists():
            raise CommandError(f"a token named {name!r} exists already")
        acting_for = None
        if user is not None:
            acting_for = get_user_model().objects.filter(username=user, is_active=True).first()
            if acting_for is None:
                raise CommandError(f"there is no active user {user!r}")
        self.stdout.write(create_api_token(name=name, user=acting_for))
