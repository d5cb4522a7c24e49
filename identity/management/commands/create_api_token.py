from django.core.management.base import BaseCommand, CommandError

from identity.api.tokens import create_api_token
from identity.models import ApiToken


class Command(BaseCommand):
    help = "Creates an API token named NAME and prints it; only its hash is kept."

    def add_arguments(self, parser):
        parser.add_argument("name", help="who or what uses the token, e.g. 'webshop'")

    def handle(self, *args, name, **options):
        if ApiToken.objects.filter(name=name).exists():
            raise CommandError(f"a token named {name!r} exists already")
        self.stdout.write(create_api_token(name=name))
