"""An import killed half-way (SIGKILL) and run again leaves exactly the profiles, identifiers
and review queue of one uninterrupted import: committed batches whole, nothing twice."""

import csv
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from identity.models import BulkLoad, DuplicateCandidate, Identifier
from profiles.models import Profile
from tests.conftest import kill, server_env

ROOT = Path(__file__).resolve().parents[2]
PEOPLE = 3000
REPEATS = 1000
KILLED_IMPORT = "mergeguard-killed-import"
HOUSEHOLDS = 40  # people 2k and 2k+1 share a phone for k < HOUSEHOLDS


def person(n):
    phone = f"212555{(n // 2 if n < 2 * HOUSEHOLDS else 1000 + n):04d}"
    return {"email": f"person{n}@example.com", "phone": phone, "customer_id": f"C{n}",
            "first_name": f"Name{n}", "last_name": f"Family{n // 2}",
            "seen": "2026-03-01T10:00:00Z"}


def write_file(path):
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, ["email", "phone", "customer_id", "first_name", "last_name",
                                       "seen"])
        writer.writeheader()
        for n in range(PEOPLE):
            writer.writerow(person(n))
            if n % 3 == 0 and n // 3 < REPEATS:  # the same person again, written another way
                again = person(n)
                again["email"] = again["email"].upper()
                phone = again["phone"]
                again["phone"] = f"({phone[:3]}) {phone[3:6]}-{phone[6:]}"
                writer.writerow(again)


def import_command(path):
    return [sys.executable, "manage.py", "import_profiles", str(path), "--match-key", "email",
            "--observed-at-column", "seen", "--batch-size", "50"]


@pytest.mark.django_db(transaction=True)
def test_an_import_killed_half_way_then_run_again_leaves_exactly_the_right_profiles(tmp_path):
    path = tmp_path / "people.csv"
    write_file(path)
    env = server_env(DETECT_ON_WRITE="true")

    first = subprocess.Popen(import_command(path), cwd=ROOT,
                             env={**env, "PGAPPNAME": KILLED_IMPORT},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while Profile.objects.count() < PEOPLE // 3:
        assert first.poll() is None, "the import ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    kill(first, KILLED_IMPORT)
    half_way = Profile.objects.count()
    assert PEOPLE // 3 <= half_way < PEOPLE
    # Every committed batch is whole: each profile it made holds all of its row's identifiers.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM profiles_profile p WHERE "
            "(SELECT count(*) FROM identity_identifier i WHERE i.profile_id = p.id) <> 3"
        )
        assert cursor.fetchone()[0] == 0

    again = subprocess.run(import_command(path), cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=300)

    assert again.returncode == 0, again.stderr[-2000:]
    assert f"profiles created:          {PEOPLE - half_way:,}" in again.stdout
    assert Profile.objects.count() == PEOPLE
    assert Identifier.objects.count() == 3 * PEOPLE
    for n in (0, 1, PEOPLE // 2, PEOPLE - 1):
        holder = Identifier.objects.get(type__key="email", value=f"person{n}@example.com").profile
        assert sorted(holder.identifiers.values_list("type__key", "value")) == sorted([
            ("customer_id", f"C{n}"), ("email", f"person{n}@example.com"),
            ("phone", f"+1{person(n)['phone']}"),
        ])
    # The review queue is complete, households of the killed run's part included, and the
    # killed load's list was taken over and emptied.
    households = {
        frozenset(c.profiles.values_list("pk", flat=True))
        for c in DuplicateCandidate.objects.filter(status=DuplicateCandidate.Status.OPEN)
    }
    expected = {
        frozenset(Identifier.objects.filter(
            type__key="email", value__in=[f"person{2 * k}@example.com",
                                          f"person{2 * k + 1}@example.com"],
        ).values_list("profile_id", flat=True))
        for k in range(HOUSEHOLDS)
    }
    assert expected <= households
    assert not BulkLoad.objects.filter(detected_at=None).exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM identity_bulkloadprofile")
        assert cursor.fetchone()[0] == 0
