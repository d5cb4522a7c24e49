"""The evidence of a suspected duplicate, and when evidence counts as new: pure, no I/O.

A candidate's evidence is a list of items, each saying which rule linked which profiles on what
(a shared value, an identity collision, similar people, the group size limit). Two items are
the same evidence when their `evidence_key`s are equal; `new_evidence` is the one rule that
decides whether a dismissed group comes back (SPEC 4: not suggested again unless new evidence
appears), whether detection or a write found it.
"""

from identity.matching.rules import COMPARED_FIELDS


class SimilarPair(tuple):
    """The evidence of a similar-people edge: (a, b, score, (level, weight, value a, value b)
    of each compared field in turn), threshold the score was held against).

    A full run keeps about a hundred thousand of these until the groups are saved, so each is a
    compact tuple and becomes an evidence dict only when its group is saved.
    """

    __slots__ = ()

    def __new__(cls, a, b, score, comparisons, threshold=None):
        return super().__new__(cls, (a, b, score, comparisons, threshold))

    def as_dict(self):
        a, b, score, comparisons, threshold = self
        fields = {
            name: {"level": comparisons[i * 4], "weight": comparisons[i * 4 + 1],
                   "values": [_plain(comparisons[i * 4 + 2]), _plain(comparisons[i * 4 + 3])]}
            for i, name in enumerate(COMPARED_FIELDS)
        }
        found = {"rule": "similar_people", "profiles": [a, b], "score": score, "fields": fields}
        if threshold is not None:
            found["threshold"] = threshold
        return found


def _evidence_dict(item):
    return item.as_dict() if isinstance(item, SimilarPair) else item


def _score(item):
    return item[2] if isinstance(item, SimilarPair) else item["score"]


def _plain(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def evidence_key(item):
    """What makes an evidence item (a dict or a SimilarPair) the same evidence as another."""
    if isinstance(item, SimilarPair):
        return ("similar_people", (item[0], item[1]))
    if item["rule"] == "similar_people":
        return ("similar_people", tuple(item["profiles"]))
    return (item["rule"], item.get("type"), item.get("value"))


def new_evidence(known_keys, evidence):
    """Whether `evidence` holds an item whose key is not among `known_keys`."""
    return any(evidence_key(item) not in known_keys for item in evidence)


def group_evidence(group):
    """The evidence list of a detected group (identity.matching.rules.Group), strongest first."""
    items = {}
    for edge in group.edges:
        items.setdefault(evidence_key(edge[3]), edge[3])
    ordered = sorted(items.items(), key=lambda pair: (-_score(pair[1]), str(pair[0])))
    evidence = [_evidence_dict(item) for _, item in ordered]
    if group.dropped:
        evidence.append({
            "rule": "group_size_limit", "score": 0,
            "note": f"weaker links to {len(group.dropped)} more profile(s) were dropped to keep "
                    f"the group at most the size limit",
            "profiles": sorted({p for edge in group.dropped for p in edge[:2]}),
        })
    return evidence


def is_auto_merge(evidence):
    """Marked for automatic merge when the group is linked only by auto-merge collisions."""
    rules = [e for e in evidence if e["rule"] != "group_size_limit"]
    return bool(rules) and all(e["rule"] == "collision" and e.get("auto_merge") for e in rules)
