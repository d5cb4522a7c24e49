"""Demo data: the duplicate causes of the SPEC, written through the real resolution service,
then a full detection run, so the queue is alive.

Deterministic (fixed random seed, fixed observation times), so seeding twice changes nothing.
"""

import random
from datetime import UTC, datetime, timedelta

from identity.matching.detect import detect_all
from identity.writing.parsing import parse_write
from identity.writing.resolution import identifier_types, resolve_writes
from profiles.models import Profile, ProfileEvent

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

FIRST_NAMES = [
    "Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Ava", "Elijah", "Sophia", "Lucas",
    "Mia", "Mateo", "Isabella", "Levi", "Harper", "Ezra", "Evelyn", "James", "Luna", "Asher",
]
LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Okafor", "Nakamura", "Kowalski", "Lindqvist",
]
CITIES = [
    ("New York", "10001"), ("Brooklyn", "11201"), ("Boston", "02108"), ("Chicago", "60601"),
    ("Austin", "73301"), ("Denver", "80202"), ("Seattle", "98101"), ("Portland", "97201"),
]

# (record, matchKey, accessContacts, minutes after START): one story each.
STORIES = [
    # An id-only profile (point of sale) and an email-only one (newsletter), linked later.
    ({"customer_id": "C-1001", "first_name": "Jane", "last_name": "Doe"}, "customer_id", []),
    ({"email": "Jane.Doe@Example.com ", "city": "Boston"}, "email", []),
    ({"customer_id": "C-1001", "email": "jane.doe@example.com"}, "customer_id", []),
    # An anonymous visitor who logs in: the anonymous profile should fold into the known one.
    ({"email": "sam.lee@example.com", "customer_id": "C-1002", "first_name": "Sam",
      "last_name": "Lee"}, "email", ["email"]),
    ({"anonymous_id": "anon-7f3c", "last_page": "/shoes/trail"}, "anonymous_id", []),
    ({"email": "sam.lee@example.com", "anonymous_id": "anon-7f3c"}, "email", ["email"]),
    # A household: two people, one landline, each with their own loyalty card.
    ({"email": "maria.garcia@example.com", "phone": "(212) 555-0142", "loyalty_card": "LC-40017",
      "first_name": "Maria", "last_name": "Garcia", "city": "New York"}, "email", ["email"]),
    ({"loyalty_card": "LC-40018", "phone": "+1 212 555 0142", "first_name": "Carlos",
      "last_name": "Garcia", "city": "New York"}, "loyalty_card", ["loyalty_card"]),
    # The same person signing in by phone at the till and by email online.
    ({"phone": "646.555.0199", "email": "ken.okafor@example.com", "first_name": "Ken",
      "last_name": "Okafor"}, "email", ["phone"]),
    ({"customer_id": "C-1004", "phone": "+16465550199", "first_name": "Kenneth",
      "last_name": "Okafor"}, "customer_id", ["phone"]),
    # A second customer id for a profile that has one: reported, not stored.
    ({"email": "lin.nakamura@example.com", "customer_id": "C-1005", "first_name": "Lin"},
     "email", []),
    ({"email": "lin.nakamura@example.com", "customer_id": "C-2005"}, "email", []),
    # Another profile's customer id given to someone else.
    ({"email": "ola.kowalski@example.com", "first_name": "Ola"}, "email", []),
    ({"email": "ola.kowalski@example.com", "customer_id": "C-1005"}, "email", []),
    # The same man, no identifier in common: a nickname, the same birthday, one postcode typo'd.
    ({"email": "jon.smith@example.com", "first_name": "Jon", "last_name": "Smithson",
      "date_of_birth": "1984-07-12", "postcode": "02108", "city": "Boston"}, "email", []),
    ({"customer_id": "C-1006", "first_name": "John", "last_name": "Smithson",
      "date_of_birth": "1984-07-12", "postcode": "02180", "city": "Boston"}, "customer_id", []),
    # A till's own phone typed for every walk-in customer: a junk value, no pairs.
    *[({"email": f"walk.in.{n}@example.com", "phone": "(212) 555-0100"}, "email", [])
      for n in range(60)],
]


def _payload(record, match_key, access, minute):
    return {
        "record": record,
        "matchKey": match_key,
        "accessContacts": access,
        "observedAt": (START + timedelta(minutes=minute)).isoformat(),
        "source": "demo",
    }


def _crowd(count, rng):
    """Ordinary customers, a few of them written twice by different channels."""
    for n in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        city, postcode = rng.choice(CITIES)
        email = f"{first}.{last}{n}@example.com".lower()
        record = {
            "email": email, "first_name": first, "last_name": last, "city": city,
            "postcode": postcode, "tier": rng.choice(["bronze", "silver", "gold"]),
            "date_of_birth": f"{rng.randint(1950, 2004)}-{rng.randint(1, 12):02}-"
                             f"{rng.randint(1, 28):02}",
        }
        if rng.random() < 0.6:
            record["phone"] = f"+1 212 555 {rng.randint(1000, 9999)}"
        yield record, "email", ["email"]
        if rng.random() < 0.1:
            # The same customer again, typed by hand at a till: case and spaces differ.
            yield {"email": f" {email.title()} ", "city": city}, "email", []


def seed_demo_profiles(*, profiles=200):
    """Write the demo stories and `profiles` ordinary customers; returns how many are active."""
    rng = random.Random(7)
    types = identifier_types()
    writes = [
        parse_write(_payload(record, key, access, minute), types=types)
        for minute, (record, key, access) in enumerate([*STORIES, *_crowd(profiles, rng)])
    ]
    resolutions = resolve_writes(writes)
    for resolution in resolutions:
        if resolution.created and rng.random() < 0.7:
            _orders(resolution.profile_id, rng)
    detect_all()
    return Profile.objects.filter(status=Profile.Status.ACTIVE).count()


def _orders(profile_id, rng):
    if ProfileEvent.objects.filter(profile_id=profile_id).exists():
        return
    ProfileEvent.objects.bulk_create(
        ProfileEvent(
            profile_id=profile_id, kind="order", source="demo",
            occurred_at=START + timedelta(days=rng.randint(0, 300)),
            data={"total": round(rng.uniform(9, 240), 2)},
        )
        for _ in range(rng.randint(1, 6))
    )
