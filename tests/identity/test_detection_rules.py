"""The pure parts of detection: features, comparison levels, grouping."""

from datetime import date

from identity.matching.rules import CONFIG, group_edges, match_features


def attrs(**values):
    stamp = "2026-01-01T00:00:00.000000Z"
    return {name: {"v": value, "t": stamp} for name, value in values.items()}


def test_features_fold_case_accents_and_nicknames():
    features = match_features(attrs(first_name=" Bill ", last_name="Ó'Brien-Núñez",
                                    date_of_birth="1984-07-12", postcode="ab1 2cd",
                                    city="São Paulo", street="12 Baker Street"))

    assert features == {
        "first_name": "bill", "first_canon": "william", "last_name": "obriennunez",
        "date_of_birth": date(1984, 7, 12), "postcode": "AB12CD", "city": "saopaulo",
        "street": "12 baker st",
    }


def test_missing_or_unusable_fields_are_none():
    features = match_features(attrs(first_name="", date_of_birth="not a date", city=None))

    assert set(features.values()) == {None}


def edge(a, b, score):
    return (a, b, score, {"rule": "test", "profiles": [a, b], "score": score})


def test_profiles_linked_directly_or_through_others_form_one_group():
    groups = group_edges([edge(1, 2, 25), edge(2, 3, 21), edge(7, 8, 30)], max_size=10)

    assert sorted(sorted(g.members) for g in groups) == [[1, 2, 3], [7, 8]]


def test_a_group_never_grows_past_the_limit_and_drops_its_weakest_links():
    edges = [edge(1, 2, 40), edge(2, 3, 35), edge(3, 4, 20), edge(4, 5, 39)]

    groups = group_edges(edges, max_size=3)

    assert sorted(sorted(g.members) for g in groups) == [[1, 2, 3], [4, 5]]
    dropped = [e[:2] for g in groups for e in g.dropped]
    assert (3, 4) in dropped


def test_the_configuration_is_described_for_stewards():
    described = CONFIG.describe()

    assert described["junk_limit"] == CONFIG.junk_limit
    assert "same surname sound and postcode" in described["linkage_keys"]
    levels = {row["level"]: row["weight"] for row in described["weights"]["last_name"]}
    assert levels["exact"] == "by frequency"
    dates = {row["level"]: row["weight"] for row in described["weights"]["date_of_birth"]}
    assert dates["close"] == round(CONFIG.hand_set.weight("date_of_birth", "close"), 1)
    assert described["threshold"] == CONFIG.threshold_for(CONFIG.hand_set)
