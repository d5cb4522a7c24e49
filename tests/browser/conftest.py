"""Data for the steward's journeys, made as the product makes it (writes, then detection)."""

from types import SimpleNamespace

import pytest

from identity.candidates.blocking_codes import refresh_blocking_codes
from identity.matching.detect import detect_all
from identity.models import DuplicateCandidate
from tests.factories import write


def _candidate_of(*profile_ids):
    wanted = set(profile_ids)
    return next(
        c for c in DuplicateCandidate.objects.all()
        if set(c.profiles.values_list("pk", flat=True)) == wanted
    )


@pytest.fixture
def console(db):
    """The Garcia household (blocked by their loyalty cards), Ken Okafor by phone and by email,
    and Jane Doe, who shares her phone with a profile of her own made at the till."""
    maria = write({"email": "maria.garcia@example.com", "phone": "(212) 555-0142",
                   "loyalty_card": "LC-40017", "first_name": "Maria", "last_name": "Garcia"},
                  "email", accessContacts=["email"]).profile_id
    carlos = write({"loyalty_card": "LC-40018", "phone": "+1 212 555 0142",
                    "first_name": "Carlos", "last_name": "Garcia"},
                   "loyalty_card", accessContacts=["loyalty_card"]).profile_id
    ken = write({"phone": "646.555.0199", "email": "ken.okafor@example.com",
                 "first_name": "Ken", "last_name": "Okafor"}, "email").profile_id
    kenneth = write({"customer_id": "C-1004", "phone": "+16465550199",
                     "first_name": "Kenneth", "last_name": "Okafor"}, "customer_id").profile_id
    jane = write({"email": "jane@example.com", "phone": "(917) 555-0101",
                  "first_name": "Jane", "last_name": "Doe"}, "email").profile_id
    till = write({"customer_id": "C-1001", "phone": "917 555 0101", "first_name": "Jane",
                  "last_name": "Doe"}, "customer_id").profile_id
    detect_all()
    refresh_blocking_codes(DuplicateCandidate.objects.values_list("pk", flat=True))
    return SimpleNamespace(
        garcias=_candidate_of(maria, carlos), okafors=_candidate_of(ken, kenneth),
        does=_candidate_of(jane, till), jane=jane,
    )
