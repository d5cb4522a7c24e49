"""A customer who moved is one person, not three differences (SPEC 4): where both postcodes are
known and differ, a city and a street weigh by their chances among pairs whose postcodes differ
too, so a move counts once; people of one household still are not suggested."""

import random
import re
from dataclasses import replace

import pytest

from identity.matching.detect import detect_all
from identity.matching.rules import CONFIG
from identity.matching.runs import execute_detection_run
from identity.matching.weights import HAND_SET, Weights, estimate_m, on_postcodes
from identity.models import DetectionRun, DuplicateCandidate
from identity.writing.parsing import parse_write
from identity.writing.resolution import identifier_types, resolve_writes
from tests.factories import population, write

FIELDS = ("name", "postcode", "city")


def moving_pairs(matches, others, seed=18):
    """Pattern counts of pairs: one person's profiles share the postcode and city, or (one in
    five) moved, and then half the time to another city; different people's rarely share
    a postcode, and share the city mostly where they do."""
    rng = random.Random(seed)
    counts = {}
    for n, one_person in ((matches, True), (others, False)):
        for _ in range(n):
            name = "exact" if rng.random() < (0.9 if one_person else 0.01) else "far"
            if rng.random() < (0.8 if one_person else 0.001):
                postcode = "exact"
                city = "exact" if rng.random() < (0.97 if one_person else 0.9) else "far"
            else:
                postcode = "far"
                city = on_postcodes(
                    "exact" if rng.random() < (0.5 if one_person else 0.02) else "far", "differ")
            levels = (name, postcode, city)
            counts[levels] = counts.get(levels, 0) + 1
    return list(counts.items())


def test_expectation_maximisation_learns_the_city_apart_where_postcodes_differ():
    u = {"name": {"exact": 0.01, "far": 0.99}, "postcode": {"exact": 0.001, "far": 0.999},
         "city": {"exact": 0.9, "far": 0.1, on_postcodes("exact", "differ"): 0.02,
                  on_postcodes("far", "differ"): 0.98}}
    start = {"name": {"exact": 0.5, "far": 0.5}, "postcode": {"exact": 0.5, "far": 0.5},
             "city": {level: 0.5 for level in u["city"]}}

    m, share, _ = estimate_m(moving_pairs(matches=6_000, others=14_000), FIELDS, u,
                             start_m=start)

    assert share == pytest.approx(0.3, abs=0.02)
    # Half the people who moved left the city too: a city that differs where the postcodes do
    # says little; where the postcodes agree, it says a lot.
    assert m["city"][on_postcodes("far", "differ")] == pytest.approx(0.5, abs=0.05)
    assert m["city"]["far"] == pytest.approx(0.03, abs=0.02)


# Weights like those learned from a million customers: a city or street that differs, judged on
# its own, says "different people" loudly; among pairs whose postcodes differ it says little.
MOVED = Weights(
    fields={
        **HAND_SET.fields,
        "city": {"exact": (0.97, 0.01), "close": (0.01, 0.001), "far": (0.0015, 0.989)},
        "street": {"exact": (0.9, 1e-4), "close": (0.02, 0.001), "similar": (0.02, 0.02),
                   "far": (0.05, 0.9789)},
    },
    prior=1e-6,
    by_postcode={"differ": {
        "city": {"exact": (0.5, 0.01), "close": (0.02, 0.001), "far": (0.48, 0.989)},
        "street": {"exact": (0.05, 1e-4), "close": (0.02, 0.001), "similar": (0.02, 0.02),
                   "far": (0.91, 0.9789)},
    }},
    learned=True,
)


def test_a_differing_city_or_street_weighs_less_where_the_postcodes_differ_too():
    for name in ("city", "street"):
        assert MOVED.weight(name, "far", postcodes="differ") > MOVED.weight(name, "far")
        assert MOVED.weight(name, "far", postcodes="differ") > -1.5
    # Weights set by hand hold one set of chances: the same either way.
    assert HAND_SET.weight("city", "far", postcodes="differ") == HAND_SET.weight("city", "far")


INGRID = {"first_name": "Ingrid", "last_name": "Vasquez-Olsen", "date_of_birth": "1984-07-12"}


@pytest.fixture
def customers(db):
    """A town of 1,200 customers; Ingrid, who moved from New York to San Francisco; Ingrid's
    cousin Sven, once with a typo; the Lindqvists, two people of one household."""
    population(1200)
    people = {
        "ingrid": {**INGRID, "email": "ingrid@example.com", "postcode": "10001",
                   "city": "New York", "street": "12 Orchard Street"},
        "ingrid moved": {**INGRID, "email": "ingrid.v@example.com", "postcode": "94110",
                         "city": "San Francisco", "street": "500 Valencia Street"},
        "sven": {"email": "sven@example.com", "first_name": "Sven", "last_name": "Halvorsen",
                 "date_of_birth": "1979-03-14", "postcode": "10003", "city": "New York",
                 "street": "4 Bleecker Street"},
        "sven typo": {"email": "s.h@example.com", "first_name": "Sven",
                      "last_name": "Halvorson", "date_of_birth": "1979-03-15",
                      "postcode": "10003", "city": "New York"},
        "marta": {"email": "marta@example.com", "first_name": "Marta", "last_name": "Lindqvist",
                  "date_of_birth": "1961-02-03", "postcode": "10011", "city": "New York",
                  "street": "88 Jane Street"},
        "jonas": {"email": "jonas@example.com", "first_name": "Jonas", "last_name": "Lindqvist",
                  "date_of_birth": "1958-11-23", "postcode": "10011", "city": "New York",
                  "street": "88 Jane Street"},
    }
    return {name: write(record, "email").profile_id for name, record in people.items()}


def together(a, b):
    return DuplicateCandidate.objects.filter(
        status="open", candidatemember__profile_id=a
    ).filter(candidatemember__profile_id=b).exists()


def test_a_customer_who_moved_is_suggested_and_household_members_are_not(customers):
    detect_all(weights=MOVED)

    assert together(customers["ingrid"], customers["ingrid moved"])
    assert together(customers["sven"], customers["sven typo"])
    assert not together(customers["marta"], customers["jonas"])
    candidate = DuplicateCandidate.objects.get(profiles=customers["ingrid"])
    fields = candidate.evidence[0]["fields"]
    assert fields["city"]["level"] == "far"
    assert fields["city"]["weight"] == round(MOVED.weight("city", "far", postcodes="differ"),
                                             2)
    assert candidate.evidence[0]["score"] >= candidate.evidence[0]["threshold"]


def test_counting_the_move_three_times_would_hide_the_customer_who_moved(customers):
    detect_all(weights=replace(MOVED, by_postcode={}))

    assert not together(customers["ingrid"], customers["ingrid moved"])
    assert not together(customers["marta"], customers["jonas"])


def town_with_addresses(size):
    """Customers with a city and a street, in postcodes of a few cities."""
    types = identifier_types()
    resolve_writes([
        parse_write({"record": {
            "email": f"t{n}@example.com", "first_name": f"Name{n}", "last_name": f"Family{n % 7}",
            "date_of_birth": f"{1940 + n % 60}-01-0{1 + n % 9}", "postcode": f"7{n % 400:04}",
            "city": f"Town{n % 400 // 40}", "street": f"{n} High Street",
        }, "matchKey": "email"}, types=types)
        for n in range(size)
    ])


@pytest.mark.django_db
def test_a_full_run_learns_the_chances_where_postcodes_differ_and_shows_them(client, viewer):
    town_with_addresses(1200)

    run = execute_detection_run(DetectionRun.objects.create().pk)

    learned = Weights.from_json(run.weights)
    assert set(learned.by_postcode["differ"]) == {"city", "street"}
    levels = [row["level"] for row in CONFIG.describe(learned)["weights"]["city"]]
    assert on_postcodes("far", "differ") in levels
    client.force_login(viewer)
    page = re.sub(r"\s+", " ", client.get("/queue/").content.decode())
    assert "<td>different, postcodes differ</td>" in page
