""""Why not?" for any two profiles (SPEC 8: /compare/, GET /api/v1/compare): what detection
says of the pair, from the code detection runs.

`why_not(a, b)` asks the detection statements themselves, restricted to the pair
(identity.matching.detect: `shared_value_edges`, `collision_edges`, `pair_comparison_sql`, the
same linkage joins and field comparisons as a full run, at any score), judges the pair's state
with the queue's `blocking_reasons`, and finds the suggestions holding both profiles. Nothing
here pairs or scores people a second way: the Python below only puts the answers into words.
"""

from dataclasses import dataclass, field

from django.db import connection

from identity.candidates.blocking import blocking_reasons
from identity.candidates.selectors import reason_json
from identity.candidates.states import group_state_for_profiles
from identity.matching.detect import (
    collision_edges,
    pair_comparison_sql,
    shared_value_edges,
    similar_pair,
)
from identity.matching.learning import current_weights
from identity.matching.rules import BIRTH_YEAR, CONFIG, FIRST_NAME_SOUND, SURNAME_SOUND
from identity.matching.weights import on_postcodes
from identity.models import (
    CandidateMember,
    DuplicateCandidate,
    Identifier,
    IdentifierType,
    ProfileFeatures,
)
from identity.profiles import survivor_of
from profiles.models import Profile

# Matching fields as a steward names them (ProfileFeatures columns and compared fields).
FIELD_WORDS = {
    "first_name": "first name", "first_canon": "first name", "last_name": "surname",
    "date_of_birth": "date of birth", "postcode": "postcode", "city": "city", "street": "street",
}
# Comparison levels (SPEC 4) in a steward's words.
LEVEL_WORDS = {
    "exact": "same",
    "nickname": "nickname",
    "close": "close (a typo)",
    "similar": "similar",
    "far": "different",
    "swapped": "swapped",
    "missing": "missing",
    # A city's or street's levels under a postcode condition (Weights.by_postcode).
    **{on_postcodes(level, condition): f"{words}, {said}"
       for level, words in (("exact", "same"), ("close", "close (a typo)"),
                            ("similar", "similar"), ("far", "different"))
       for condition, said in (("differ", "postcodes differ"),
                               ("missing", "a postcode missing"))},
}


@dataclass(frozen=True)
class LinkageCheck:
    """One way detection pairs people (a linkage key), and whether it brings the pair together."""

    name: str
    shared: bool
    why: str  # when not shared: what keeps the pair apart on this key, in words


@dataclass(frozen=True)
class FieldComparison:
    name: str  # the compared field
    label: str
    level: str
    level_label: str
    weight: float
    values: tuple  # (value of a, value of b), as detection compares them (normalised)


@dataclass(frozen=True)
class SharedValue:
    type_key: str
    type_label: str
    value: str
    current: tuple  # (current on a, current on b)
    matchable: bool
    pairs: bool  # detection pairs the profiles on it
    holders: int  # active profiles holding it, when it is a junk value (else 0)

    @property
    def junk(self):
        return self.holders > 0


@dataclass(frozen=True)
class CandidateFact:
    candidate: DuplicateCandidate
    profile_ids: tuple  # every profile of the suggestion


@dataclass
class PairAnswer:
    """What detection says of the pair (a, b), in the order the caller gave them."""

    a: int
    b: int
    threshold: float
    linkage: list  # of LinkageCheck, in CONFIG.linkage_keys' order
    fields: list  # of FieldComparison; empty when a profile has no matching fields
    score: float | None  # similar-people score; None when a profile has no matching fields
    shared: list  # of SharedValue, every value both hold
    collisions: list  # evidence items of identity collisions between the two, with type_label
    reasons: list  # of BlockingReason that would apply to merging the two
    candidates: list  # of CandidateFact holding both profiles, newest first
    ways: list = field(default_factory=list)  # how detection pairs them, in words

    @property
    def linked(self):
        return any(check.shared for check in self.linkage)

    @property
    def passes(self):
        return self.score is not None and self.score >= self.threshold

    @property
    def similar(self):
        """Detection pairs them as similar people: a linkage key and a score at the threshold."""
        return self.linked and self.passes

    @property
    def suggested(self):
        return bool(self.ways)

    @property
    def why_not(self):
        """Why detection does not pair them, in sentences (empty when it does)."""
        if self.suggested:
            return []
        found = []
        junk = [value for value in self.shared if value.junk]
        for value in junk:
            found.append(
                f"Their shared {_lower(value.type_label)} {value.value} is a junk value, held "
                f"by {value.holders} profiles: it pairs nobody."
            )
        if not [value for value in self.shared if value.matchable]:
            found.append("They share no value of a type whose shared values suggest duplicates.")
        if self.score is None:
            found.append("One of them has no name, date of birth or address to compare.")
        elif not self.linked:
            found.append(
                "No linkage key brings them together, so detection never compares them"
                + (f" (they would score {self.score:.1f}, at least the threshold of "
                   f"{self.threshold:g})." if self.passes else
                   f"; compared, they would score {self.score:.1f}, under the threshold of "
                   f"{self.threshold:g}.")
            )
        else:
            found.append(
                f"They meet on {_and([c.name for c in self.linkage if c.shared])}, but score "
                f"{self.score:.1f}, under the threshold of {self.threshold:g}."
            )
        return found


def why_not(a, b, *, config=CONFIG):
    """What detection says of the active profiles `a` and `b` (ids, different)."""
    pair = {a, b}
    shared_edges, junk = shared_value_edges(config, sorted(pair))
    paired_on = {
        (evidence["type"], evidence["value"])
        for _, _, _, evidence in shared_edges if pair <= set(evidence["profiles"])
    }
    labels = dict(IdentifierType.objects.values_list("key", "label"))
    collisions = [
        {**evidence, "type_label": labels.get(evidence["type"], evidence["type"])}
        for x, y, _, evidence in collision_edges(config, sorted(pair)) if {x, y} == pair
    ]
    weights = current_weights(config)
    threshold = config.threshold_for(weights)
    linkage, fields, score = _similar_people(a, b, config, weights)
    answer = PairAnswer(
        a=a, b=b, threshold=threshold, linkage=linkage, fields=fields, score=score,
        shared=_shared_values(a, b, paired_on, junk),
        collisions=collisions,
        reasons=blocking_reasons(group_state_for_profiles([a, b])),
        candidates=_candidates(a, b),
    )
    answer.ways = [
        *(f"they share the {_lower(v.type_label)} {v.value}" for v in answer.shared if v.pairs),
        *(f"a write collided on the {_lower(c['type_label'])} {c['value']}" for c in collisions),
        *([f"similar people: score {score:.1f}, at least the threshold of {threshold:g}"]
          if answer.similar else []),
    ]
    return answer


def _similar_people(a, b, config, weights):
    """(LinkageChecks, FieldComparisons, score) of the pair, from the detection statements."""
    keys_sql, scored_sql, params = pair_comparison_sql(config, a, b, weights)
    with connection.cursor() as cursor:
        cursor.execute(keys_sql, params)
        linked = {row[0] for row in cursor.fetchall()}
        cursor.execute(scored_sql, params)
        row = cursor.fetchone()
    features = {
        f.profile_id: f for f in ProfileFeatures.objects.filter(profile_id__in=[a, b])
    }
    checks = [
        LinkageCheck(key.name, position in linked,
                     "" if position in linked else _apart(key, features.get(a), features.get(b),
                                                          config))
        for position, key in enumerate(config.linkage_keys)
    ]
    if row is None:
        return checks, [], None
    evidence = similar_pair(row).as_dict()
    flip = a > b  # the statement's rows hold the lower id first
    fields = [
        FieldComparison(
            name, FIELD_WORDS.get(name, name.replace("_", " ")), compared["level"],
            LEVEL_WORDS.get(compared["level"], compared["level"]), compared["weight"],
            tuple(reversed(compared["values"])) if flip else tuple(compared["values"]),
        )
        for name, compared in evidence["fields"].items()
    ]
    return checks, fields, evidence["score"]


def _apart(key, fa, fb, config):
    """Why the linkage key `key` leaves the pair apart, in words (the SQL said it does)."""
    if fa is None or fb is None:
        return "one of them has no matching fields"
    if any("{t}" in column for column in key.columns):
        return _apart_by_expressions(key, fa.profile_id, fb.profile_id, config)
    if key.swapped and not (
        fa.first_name and fa.last_name and fa.first_name == fb.last_name
        and fa.last_name == fb.first_name and fa.first_name != fa.last_name
    ):
        return "their first and last names are not swapped"
    missing = [c for c in key.columns if getattr(fa, c) is None or getattr(fb, c) is None]
    differ = [c for c in key.columns if c not in missing and getattr(fa, c) != getattr(fb, c)]
    parts = []
    if differ:
        parts.append("different " + _and(_words(differ)))
    both = [c for c in missing if getattr(fa, c) is None and getattr(fb, c) is None]
    one = [c for c in missing if c not in both]
    if one:
        parts.append(_and(_words(one)) + " missing on one side")
    if both:
        parts.append(_and(_words(both)) + " missing on both")
    if parts:
        return "; ".join(parts)
    return (f"more than {config.max_block_size} profiles share these values: too common to "
            "pair people by")


def _apart_by_expressions(key, a, b, config):
    """Why a key over expressions (a name's sound, a birth year) leaves the pair apart: the
    same words as for plain columns, each expression named for what it says."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT t.profile_id, {', '.join(key.expressions('t'))} "
            "FROM identity_profilefeatures t WHERE t.profile_id IN (%s, %s)", [a, b])
        rows = {row[0]: row[1:] for row in cursor.fetchall()}
    words = [_column_word(column) for column in key.columns]
    va, vb = rows.get(a), rows.get(b)
    missing = [i for i in range(len(words)) if va[i] is None or vb[i] is None]
    both = [words[i] for i in missing if va[i] is None and vb[i] is None]
    one = [words[i] for i in missing if words[i] not in both]
    differ = [words[i] for i in range(len(words)) if i not in missing and va[i] != vb[i]]
    parts = []
    if differ:
        parts.append("different " + _and(dict.fromkeys(differ)))
    if one:
        parts.append(_and(dict.fromkeys(one)) + " missing on one side")
    if both:
        parts.append(_and(dict.fromkeys(both)) + " missing on both")
    if parts:
        return "; ".join(parts)
    return (f"more than {config.max_block_size} profiles share these values: too common to "
            "pair people by")


EXPRESSION_WORDS = {
    SURNAME_SOUND: "surname sound", FIRST_NAME_SOUND: "first name sound",
    BIRTH_YEAR: "birth year",
}


def _column_word(column):
    return EXPRESSION_WORDS.get(column) or FIELD_WORDS.get(column, column)


def _words(columns):
    return list(dict.fromkeys(FIELD_WORDS.get(c, c) for c in columns))


def _shared_values(a, b, paired_on, junk):
    """Every value both profiles hold (current or previous), with what detection makes of it."""
    held = {}
    for identifier in Identifier.objects.filter(profile_id__in=[a, b]).select_related("type"):
        held.setdefault((identifier.type_id, identifier.value), {})[identifier.profile_id] = (
            identifier
        )
    shared = []
    for (type_id, value), by_profile in held.items():
        if len(by_profile) < 2:
            continue
        type_ = by_profile[a].type
        shared.append(SharedValue(
            type_.key, type_.label, value, (by_profile[a].is_current, by_profile[b].is_current),
            type_.matchable, (type_.key, value) in paired_on, junk.get((type_id, value), 0),
        ))
    return sorted(shared, key=lambda v: (v.type_label, v.value))


def _candidates(a, b):
    both = CandidateMember.objects.filter(profile_id=b).values("candidate_id")
    ids = list(
        CandidateMember.objects.filter(profile_id=a, candidate_id__in=both)
        .values_list("candidate_id", flat=True)
    )
    members = {}
    for candidate_id, profile_id in CandidateMember.objects.filter(
        candidate_id__in=ids
    ).values_list("candidate_id", "profile_id"):
        members.setdefault(candidate_id, []).append(profile_id)
    return [
        CandidateFact(candidate, tuple(sorted(members[candidate.pk])))
        for candidate in DuplicateCandidate.objects.filter(pk__in=ids)
        .select_related("dismissed_by", "assignee").order_by("-created_at", "-pk")
    ]


def _lower(label):
    """'Loyalty card' -> 'loyalty card'; an acronym such as 'ID' keeps its case."""
    return label if len(label) > 1 and label[1].isupper() else label[:1].lower() + label[1:]


def _and(words):
    words = list(words)
    if not words:
        return ""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def pair_json(answer, *, requested=None):
    """The answer as the API gives it (GET /api/v1/compare): the page's facts, codes and all.

    `requested` maps a side ("a", "b") to the merged profile id asked for, when the answer is
    about its survivor instead.
    """
    requested = requested or {}
    return {
        "a": {"id": answer.a, "requested": requested.get("a", answer.a)},
        "b": {"id": answer.b, "requested": requested.get("b", answer.b)},
        "suggested": answer.suggested,
        "ways": answer.ways,
        "whyNot": answer.why_not,
        "linkageKeys": [
            {"name": check.name, "shared": check.shared, "why": check.why or None}
            for check in answer.linkage
        ],
        "similarity": {
            "score": answer.score,
            "threshold": answer.threshold,
            "passes": answer.passes,
            "fields": {
                f.name: {"level": f.level, "weight": f.weight, "values": list(f.values)}
                for f in answer.fields
            },
        },
        "sharedValues": [
            {"type": v.type_key, "typeLabel": v.type_label, "value": v.value,
             "current": list(v.current), "matchable": v.matchable, "pairs": v.pairs,
             "junk": v.junk, "holders": v.holders or None}
            for v in answer.shared
        ],
        "collisions": [
            {"type": c["type"], "typeLabel": c["type_label"], "value": c["value"],
             "autoMerge": bool(c.get("auto_merge"))}
            for c in answer.collisions
        ],
        "blockingReasons": [reason_json(reason) for reason in answer.reasons],
        "candidates": [
            {
                "id": fact.candidate.pk,
                "status": fact.candidate.status,
                "score": fact.candidate.score,
                "profileIds": list(fact.profile_ids),
                "dismissedBy": (fact.candidate.dismissed_by.get_username()
                                if fact.candidate.dismissed_by else None),
                "dismissedAt": (fact.candidate.dismissed_at.isoformat()
                                if fact.candidate.dismissed_at else None),
                "dismissReason": fact.candidate.dismiss_reason or None,
            }
            for fact in answer.candidates
        ],
    }


def landing(profile_id):
    """The active profile an id lands on (a merged one's survivor, SPEC 6), or None when no
    profile has that id."""
    profile = Profile.objects.filter(pk=profile_id).first()
    return survivor_of(profile) if profile is not None else None
