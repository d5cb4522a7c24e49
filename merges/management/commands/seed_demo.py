import secrets

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction

from merges import roles
from merges.demo import seed_demo_profiles

DEMO_USERS = [
    ("viewer", roles.VIEWER, False),
    ("steward", roles.STEWARD, False),
    ("senior", roles.SENIOR_STEWARD, False),
    ("admin", roles.ADMIN, True),
]


class Command(BaseCommand):
    help = "Creates demo profiles and demo users, one per role, and prints their password."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password", help="password for the demo users (default: a new random one)"
        )
        parser.add_argument(
            "--profiles", type=int, default=200, help="ordinary customers besides the stories"
        )

    @transaction.atomic
    def handle(self, *args, password=None, profiles=200, **options):
        active = seed_demo_profiles(profiles=profiles)
        self.stdout.write(f"{active} active demo profiles.")
        password = password or secrets.token_urlsafe(9)
        for username, role, is_admin in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=username)
            user.is_staff = user.is_superuser = is_admin
            user.set_password(password)
            user.save()
            user.groups.set([Group.objects.get(name=role)])
        self.stdout.write("Demo users (username / role), all with the password below:")
        for username, role, _ in DEMO_USERS:
            self.stdout.write(f"  {username:<8} {role}")
        self.stdout.write(f"Password: {password}")
