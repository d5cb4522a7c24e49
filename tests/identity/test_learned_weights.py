"""Weights learned from the data without labels (SPEC 4): the estimate, the comparison levels it
weighs, and what a steward sees of them."""

import random
import re

import pytest

from identity.matching.detect import detect_all, detect_for_profiles
from identity.matching.learning import current_weights
from identity.matching.rules import CONFIG
from identity.matching.runs import execute_detection_run
from identity.matching.weights import HAND_SET, Weights, estimate_m
from identity.models import DetectionRun, DuplicateCandidate
from tests.factories import population, write

FIELDS = ("name", "birth", "town")
TRUE_M = {
    "name": {"exact": 0.85, "close": 0.1, "far": 0.05},
    "birth": {"exact": 0.9, "close": 0.07, "far": 0.03},
    "town": {"exact": 0.7, "close": 0.1, "far": 0.2},
}
TRUE_U = {
    "name": {"exact": 0.01, "close": 0.04, "far": 0.95},
    "birth": {"exact": 0.002, "close": 0.02, "far": 0.978},
    "town": {"exact": 0.05, "close": 0.05, "far": 0.9},
}


def synthetic_pairs(matches, others, seed=18):
    """Pattern counts of pairs whose fields fall in levels by TRUE_M (one person) or TRUE_U."""
    rng = random.Random(seed)
    counts = {}
    for chances, n in ((TRUE_M, matches), (TRUE_U, others)):
        for _ in range(n):
            levels = tuple(
                rng.choices(list(chances[name]), weights=list(chances[name].values()))[0]
                for name in FIELDS
            )
            counts[levels] = counts.get(levels, 0) + 1
    return list(counts.items())


def test_expectation_maximisation_finds_the_true_m_and_the_share_of_matches_without_labels():
    patterns = synthetic_pairs(matches=6_000, others=14_000)
    start = {name: {"exact": 0.5, "close": 0.25, "far": 0.25} for name in FIELDS}

    m, share, _ = estimate_m(patterns, FIELDS, TRUE_U, start_m=start)

    assert share == pytest.approx(0.3, abs=0.02)
    for name in FIELDS:
        for level, true in TRUE_M[name].items():
            assert m[name][level] == pytest.approx(true, abs=0.03), (name, level)


def test_a_closer_level_never_weighs_less_than_a_farther_one():
    weights = Weights(fields={
        **HAND_SET.fields,
        # Too few pairs fell in "close" to tell: its estimate is smaller than "far"'s.
        "postcode": {"exact": (0.9, 0.001), "close": (0.00001, 0.01), "far": (0.1, 0.989)},
    }, prior=1e-6)

    assert weights.weight("postcode", "close") == weights.weight("postcode", "far")
    assert weights.weight("postcode", "exact") > weights.weight("postcode", "close")


def test_a_shared_street_weighs_less_where_the_postcode_already_agrees():
    weights = Weights(fields=HAND_SET.fields, prior=1e-6, in_postcode={"street": 0.05})

    assert weights.weight("street", "exact", same_postcode=True) < weights.weight("street",
                                                                                  "exact")


def levels_of(cursor, a, b):
    """The comparison level of each field for features rows a and b, by detection's SQL."""
    from identity.matching.levels import SWAPPED_SQL, level_sql
    from identity.matching.rules import CANONICAL_FIRST_NAME, COMPARED_FIELDS

    def row(values):
        first = values.get("first_name")
        canon = CANONICAL_FIRST_NAME.get(first, first)
        return ("SELECT %s::text AS first_name, %s::text AS first_canon, %s::text AS last_name, "
                "%s::date AS date_of_birth, %s::text AS postcode, %s::text AS city, "
                "%s::text AS street",
                [first, canon, values.get("last_name"),
                 values.get("date_of_birth"), values.get("postcode"), values.get("city"),
                 values.get("street")])

    (sql_a, params_a), (sql_b, params_b) = row(a), row(b)
    cursor.execute(
        f"SELECT {', '.join(level_sql(name) for name in COMPARED_FIELDS)} "
        f"FROM ({sql_a}) fa CROSS JOIN ({sql_b}) fb CROSS JOIN LATERAL ({SWAPPED_SQL}) sw",
        params_a + params_b,
    )
    return dict(zip(COMPARED_FIELDS, cursor.fetchone(), strict=True))


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "a", "b", "level"), [
    ("last_name", "whitfield", "whitfield", "exact"),
    ("last_name", "whitfield", "whitfeld", "close"),  # a letter dropped
    ("last_name", "whitfield", "whitfiled", "close"),  # two letters swapped
    ("last_name", "whitfield", "whittfield", "close"),  # a letter doubled
    ("last_name", "whitfield", "witfeld", "similar"),  # two slips
    ("last_name", "whitfield", "okonkwo", "far"),
    ("last_name", "whitfield", None, "missing"),
    ("first_name", "katherine", "katherine", "exact"),
    ("first_name", "kate", "katherine", "nickname"),
    ("first_name", "katherine", "kathreine", "close"),
    ("date_of_birth", "1984-07-12", "1984-07-12", "exact"),
    ("date_of_birth", "1984-07-12", "1984-07-13", "close"),  # one digit wrong
    ("date_of_birth", "1984-07-12", "1984-07-21", "close"),  # two digits swapped
    ("date_of_birth", "1984-07-12", "1984-12-07", "close"),  # day and month swapped
    ("date_of_birth", "1984-07-12", "1985-07-12", "close"),  # the year off by one
    ("date_of_birth", "1989-07-12", "1990-07-12", "close"),  # ... across a decade
    ("date_of_birth", "1984-07-12", "1962-03-30", "far"),
    ("postcode", "2615", "2615", "exact"),
    ("postcode", "2615", "2616", "close"),  # one digit apart
    ("postcode", "2615", "2651", "close"),  # two digits swapped
    ("postcode", "2615", "3000", "far"),
    ("city", "canberra", "canberra", "exact"),
    ("city", "canberra", "canbera", "close"),
    ("street", "14 cobby st", "14 cobby st", "exact"),
    ("street", "14 cobby st", "41 cobby st", "close"),  # the number's digits swapped
    ("street", "14 cobby st", "14 cobbystreet", "similar"),
    ("street", "14 cobby st", "2 hawthorne dr", "far"),
])
def test_each_comparison_level_survives_the_typos_people_make(field, a, b, level):
    from django.db import connection

    with connection.cursor() as cursor:
        assert levels_of(cursor, {field: a}, {field: b})[field] == level


@pytest.mark.django_db
def test_swapped_first_and_last_names_are_their_own_level():
    from django.db import connection

    with connection.cursor() as cursor:
        found = levels_of(cursor, {"first_name": "wei", "last_name": "zhang"},
                          {"first_name": "zhang", "last_name": "wei"})

    assert (found["first_name"], found["last_name"]) == ("swapped", "swapped")


def snapshot():
    return {
        frozenset(c.profiles.values_list("pk", flat=True)):
            (c.status, sorted(str(sorted(e.items())) for e in c.evidence))
        for c in DuplicateCandidate.objects.filter(status="open")
    }


@pytest.fixture
def town(db):
    """A town of 1,200 customers (enough to learn from), two of whom wrote twice."""
    population(1200)
    first = write({"email": "ingrid@example.com", "first_name": "Ingrid",
                   "last_name": "Vasquez-Olsen", "date_of_birth": "1984-07-12",
                   "postcode": "10001", "city": "New York", "street": "12 Orchard Street"},
                  "email").profile_id
    again = write({"email": "ingrid.v@example.com", "first_name": "Ingrid",
                   "last_name": "Vasquez-Olsen", "date_of_birth": "1984-07-21",
                   "postcode": "10001", "city": "New York"}, "email").profile_id
    return first, again


def test_a_full_run_learns_the_weights_and_keeps_them_with_the_run(town):
    run = execute_detection_run(DetectionRun.objects.create().pk)

    assert run.weights["learned"] is True
    # The town's customers give no city or street: those keep the weights set by hand, and
    # the panel says so (a u from a handful of random pairs would weigh any street as strong
    # evidence).
    assert run.weights["note"] == (
        "learned from 1,202 profiles; city, street set by hand: too few profiles hold them to "
        "learn from"
    )
    learned = Weights.from_json(run.weights)
    assert learned.fields != HAND_SET.fields
    assert (learned.fields["city"], learned.fields["street"]) == (
        HAND_SET.fields["city"], HAND_SET.fields["street"])
    assert learned.fields["date_of_birth"] != HAND_SET.fields["date_of_birth"]
    assert current_weights().fields == learned.fields
    candidate = DuplicateCandidate.objects.get(profiles=town[0])
    evidence = candidate.evidence[0]
    assert evidence["threshold"] == CONFIG.threshold_for(learned)
    assert evidence["fields"]["date_of_birth"]["level"] == "close"
    assert evidence["fields"]["date_of_birth"]["weight"] == round(
        learned.weight("date_of_birth", "close"), 2)


def test_incremental_detection_uses_the_last_runs_weights_and_agrees_with_a_full_run(town):
    execute_detection_run(DetectionRun.objects.create().pk)
    learned = current_weights()
    later = write({"customer_id": "C-4711", "first_name": "Ingrid", "last_name": "Vasquez-Olsen",
                   "date_of_birth": "1984-07-12", "postcode": "10001", "city": "New York"},
                  "customer_id").profile_id

    detect_for_profiles([later])
    incremental = snapshot()
    detect_all(weights=learned)
    full = snapshot()

    # The same suggestions, for the same reasons. A value's frequency counts one profile more
    # for the full run, which may move an unrelated pair's name weight in its last decimal.
    assert _suggestions(full) == _suggestions(incremental)
    ingrid = next(members for members in incremental if later in members)
    assert town[0] in ingrid
    assert full[ingrid] == incremental[ingrid]


def _suggestions(snapshot):
    return {members: (status, sorted({e.split("('rule', ")[1].split(")")[0] for e in evidence}))
            for members, (status, evidence) in snapshot.items()}


@pytest.mark.django_db
def test_too_few_profiles_keep_the_hand_set_weights_and_say_so():
    population(20)

    figures = detect_all()

    assert figures["weights"]["learned"] is False
    assert "too few to learn from" in figures["weights"]["note"]


def test_how_suggestions_are_made_shows_the_learned_weights_of_the_last_run(client, viewer,
                                                                              town):
    run = execute_detection_run(DetectionRun.objects.create().pk)
    client.force_login(viewer)

    page = re.sub(r"\s+", " ", client.get("/queue/").content.decode())

    assert f"Learned from the data without labels by full detection run {run.pk}" in page
    threshold = CONFIG.threshold_for(Weights.from_json(run.weights))
    assert f"a pair scoring {threshold:.1f} or more is suggested" in page
    assert re.search(r"<td>close \(a typo\)</td><td class=\"num\">-?[\d.]+</td>", page)


def test_the_steward_sees_the_score_against_the_threshold(client, viewer, town):
    execute_detection_run(DetectionRun.objects.create().pk)
    candidate = DuplicateCandidate.objects.get(profiles=town[0])
    client.force_login(viewer)

    page = client.get(f"/queue/{candidate.pk}/").content.decode()

    evidence = candidate.evidence[0]
    assert (f"score {evidence['score']:.1f} against the threshold of "
            f"{evidence['threshold']:.1f}") in page
