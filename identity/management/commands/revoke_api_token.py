from django.core.management.base import BaseCommand, CommandError

from identity.api.tokens import UnknownToken, revoke_api_token


class Command(BaseCommand):
    help = ("Revokes the API token named NAME: it stops working at once, and is answered 401 "
            "saying it was revoked.")

    def add_arguments(self, parser):
        parser.add_argument("name", help="the token's name, as given to create_api_token")

    def handle(self, *args, name, **options):
        try:
            revoke_api_token(name=name)
        except UnknownToken as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Token {name!r} revoked.")
