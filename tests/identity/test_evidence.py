"""When evidence is new: the one rule that brings a dismissed group back (SPEC 4)."""

from identity.matching.evidence import SimilarPair, evidence_key, new_evidence


def test_the_same_collision_seen_again_is_not_new_evidence():
    known = {evidence_key({"rule": "collision", "type": "email", "value": "a@example.com",
                           "seen": "2026-01-01T00:00:00+00:00"})}

    again = {"rule": "collision", "type": "email", "value": "a@example.com",
             "seen": "2026-02-01T00:00:00+00:00"}

    assert not new_evidence(known, [again])


def test_a_collision_on_another_value_is_new_evidence():
    known = {evidence_key({"rule": "collision", "type": "email", "value": "a@example.com"})}

    assert new_evidence(known, [{"rule": "collision", "type": "email", "value": "b@example.com"}])


def test_a_similar_pair_is_the_same_evidence_as_its_saved_form_whatever_the_score():
    pair = SimilarPair(3, 7, 9.5, ())
    saved = {"rule": "similar_people", "profiles": [3, 7], "score": 8.0, "fields": {}}

    assert evidence_key(pair) == evidence_key(saved)
    assert not new_evidence({evidence_key(saved)}, [pair])
