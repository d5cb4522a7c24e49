"""Suspected duplicates for the queue and review pages, made as the product makes them: writes
through resolution, then detection, then the stored blocking codes refreshed (as detection does
once it is wired to refresh_blocking_codes)."""

import pytest

from identity.candidates.blocking_codes import refresh_blocking_codes
from identity.matching.detect import detect_all
from identity.models import DuplicateCandidate
from tests.factories import population, write


def detect():
    detect_all()
    refresh_blocking_codes(DuplicateCandidate.objects.values_list("pk", flat=True))


def candidate_of(*profile_ids):
    """The candidate holding exactly these profiles."""
    wanted = set(profile_ids)
    for candidate in DuplicateCandidate.objects.all():
        if set(candidate.profiles.values_list("pk", flat=True)) == wanted:
            return candidate
    raise LookupError(f"no candidate of {sorted(wanted)}")


@pytest.fixture
def smithsons(db):
    """Jon and John Smithson: no identifier in common, similar people (among 100 others)."""
    population()
    jon = write({"email": "jon.smith@example.com", "first_name": "Jon", "last_name": "Smithson",
                 "date_of_birth": "1984-07-12", "postcode": "02108", "city": "Boston"},
                "email").profile_id
    john = write({"customer_id": "C-1006", "first_name": "John", "last_name": "Smithson",
                  "date_of_birth": "1984-07-12", "postcode": "02180", "city": "Boston"},
                 "customer_id").profile_id
    return jon, john
