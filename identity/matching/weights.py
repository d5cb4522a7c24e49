"""Fellegi-Sunter weights of the compared fields (SPEC 4): pure, no I/O.

Each compared field of a pair falls in one comparison level (`LEVELS`: exact, close, ...). A
level has two chances: m, that one person's two profiles fall in it, and u, that two profiles of
different people do. It weighs log2(m/u): positive when the level says "same person", negative
when it says "different people". A pair's score is the sum over its fields; "missing" (and a
city already said by an equal postcode) weighs nothing.

The weights are learned from the data without labels (`estimate_m`, by expectation-maximisation:
u from random pairs, which are nearly all of different people; m from the pairs blocking
brings together, with u held fixed) or set by hand (`HAND_SET`). The threshold follows from the
chance that two random profiles are one person (`prior`): a pair is suggested when its chance of
being one person reaches `match_probability` (identity.matching.rules.CONFIG).
"""

import math
from dataclasses import dataclass, field

# The levels of each compared field, in the order they are tested (the first that holds).
LEVELS = {
    "first_name": ("missing", "swapped", "exact", "nickname", "close", "similar", "far"),
    "last_name": ("missing", "swapped", "exact", "close", "similar", "far"),
    "date_of_birth": ("missing", "exact", "close", "far"),
    "postcode": ("missing", "exact", "close", "far"),
    "city": ("missing", "exact", "close", "far"),
    "street": ("missing", "exact", "close", "similar", "far"),
}
# Levels that weigh nothing whatever the data: they say nothing about the pair.
NEUTRAL = frozenset({"missing"})
# Fields that lie within a postcode: where the postcodes agree, their agreement weighs against
# the chance that two different people of one postcode agree on them (Weights.in_postcode).
IN_POSTCODE = ("city", "street")
# A city or street weighs by its chances among pairs whose postcodes compare as this pair's do
# (Weights.by_postcode): where they differ (the person moved, or a typo) or one is missing. A
# move changes the postcode, the street and often the city at once: one fact, not three.
# Postcode level -> the condition; an equal postcode has its own rule (Weights.in_postcode).
POSTCODE_CONDITIONS = {"close": "differ", "far": "differ", "missing": "missing"}


def on_postcodes(level, condition):
    """The name learning gives a city's or street's `level` under a postcode `condition`."""
    return f"{level}|{condition}"


def condition_of(level):
    """The postcode condition of a level named by on_postcodes ("" for a plain level)."""
    return level.partition("|")[2]


# At least this chance, whatever the sample says: people of one household share the address
# and are still different people, which no two-class model of pairs learns (a shared street
# with its number is rare between strangers, common between relatives).
IN_POSTCODE_FLOOR = {"city": 0.0, "street": 0.02}
# Swapped first and last names weigh as the names agreeing, less this.
SWAPPED_PENALTY = 1.0
# From the closest level to the farthest: a closer level never weighs less than a farther one,
# even where the data hold too few pairs in it to tell.
ORDER = {name: [level for level in levels if level not in NEUTRAL and level != "swapped"]
         for name, levels in LEVELS.items()}
# Chances are kept inside these bounds, so no single level can veto or force a pair.
FLOOR = 1e-5
CEILING = 1 - 1e-5


def _bounded(p):
    return min(max(p, FLOOR), CEILING)


@dataclass(frozen=True)
class Weights:
    """m and u of each level of each compared field, the prior, and where they came from.

    `fields`: {field: {level: (m, u)}} for the non-neutral levels of LEVELS.
    `prior`: the chance that two profiles drawn at random are one person.
    `in_postcode`: {field: the chance that two different people of one postcode agree on it}
    for IN_POSTCODE: a city or street agreeing where the postcode does too weighs against
    that, not against any two people, so that one address is not counted two or three times.
    `by_postcode`: {condition: {field: {level: (m, u)}}} for IN_POSTCODE under a condition of
    POSTCODE_CONDITIONS: a city or street then weighs by these (when learned), so that a person
    who moved is not counted as different three times.
    Swapped names weigh as agreeing names, less SWAPPED_PENALTY (no key teaches their m).
    """

    fields: dict
    prior: float
    in_postcode: dict = field(default_factory=lambda: {"city": 0.9, "street": 0.02})
    learned: bool = False
    note: str = ""
    figures: dict = field(default_factory=dict)
    by_postcode: dict = field(default_factory=dict)

    def weight(self, name, level, *, same_postcode=False, postcodes=None):
        """log2(m/u) of `level` of field `name`; for a city or street, where the postcodes
        agree (`same_postcode`) or under a condition of POSTCODE_CONDITIONS (`postcodes`)."""
        if level in NEUTRAL:
            return 0.0
        if level == "swapped":
            return self.weight(name, "exact") - SWAPPED_PENALTY
        m, u = self.fields[name][level]
        if same_postcode and name in IN_POSTCODE:
            u = max(u, self.in_postcode.get(name, 0.0), IN_POSTCODE_FLOOR[name])
        elif level in self.by_postcode.get(postcodes, {}).get(name, {}):
            m, u = self.by_postcode[postcodes][name][level]
        found = math.log2(_bounded(m) / _bounded(u))
        order = ORDER[name]
        if level in order and level != order[-1]:
            farther = order[order.index(level) + 1]
            found = max(found, self.weight(name, farther, same_postcode=same_postcode,
                                           postcodes=postcodes))
        return found

    def threshold(self, match_probability):
        """The score at which a pair's chance of being one person reaches `match_probability`."""
        prior = min(max(self.prior, 1e-15), 0.5)
        return round(math.log2((1 - prior) / prior)
                     + math.log2(match_probability / (1 - match_probability)), 2)

    def as_json(self):
        return {
            "learned": self.learned,
            "note": self.note,
            "prior": self.prior,
            "in_postcode": self.in_postcode,
            "figures": self.figures,
            "fields": {
                name: {level: {"m": round(m, 6), "u": round(u, 8),
                               "weight": round(self.weight(name, level), 2)}
                       for level, (m, u) in levels.items()}
                for name, levels in self.fields.items()
            },
            "by_postcode": {
                condition: {
                    name: {level: {"m": round(m, 6), "u": round(u, 8),
                                   "weight": round(self.weight(name, level,
                                                               postcodes=condition), 2)}
                           for level, (m, u) in levels.items()}
                    for name, levels in fields.items()
                }
                for condition, fields in self.by_postcode.items()
            },
        }

    @classmethod
    def from_json(cls, data):
        return cls(
            fields={name: {level: (v["m"], v["u"]) for level, v in levels.items()}
                    for name, levels in data["fields"].items()},
            prior=data["prior"], in_postcode=data.get("in_postcode", {}),
            learned=data.get("learned", True), note=data.get("note", ""),
            figures=data.get("figures", {}),
            by_postcode={
                condition: {name: {level: (v["m"], v["u"]) for level, v in levels.items()}
                            for name, levels in fields.items()}
                for condition, fields in data.get("by_postcode", {}).items()
            },
        )


def _levels(**chances):
    return {level: tuple(mu) for level, mu in chances.items()}


# Hand-set chances, from the record-linkage literature and measured on typical customer data.
# Used when weights are set by hand (CONFIG.weights = "hand-set"), before any full run has
# learned them, and where the data are too few to learn from.
HAND_SET = Weights(
    fields={
        "first_name": _levels(swapped=(0.01, 1e-5), exact=(0.9, 0.01), nickname=(0.04, 0.001),
                              close=(0.03, 0.001), similar=(0.01, 0.005), far=(0.01, 0.983)),
        "last_name": _levels(swapped=(0.01, 1e-5), exact=(0.92, 0.002), close=(0.05, 0.0005),
                             similar=(0.01, 0.003), far=(0.01, 0.9945)),
        "date_of_birth": _levels(exact=(0.93, 5e-5), close=(0.06, 0.001), far=(0.01, 0.99895)),
        "postcode": _levels(exact=(0.85, 2e-4), close=(0.02, 0.002), far=(0.13, 0.9978)),
        "city": _levels(exact=(0.88, 0.01), close=(0.02, 0.001), far=(0.1, 0.989)),
        "street": _levels(exact=(0.7, 1e-4), close=(0.1, 0.001), similar=(0.05, 0.02),
                          far=(0.15, 0.9789)),
    },
    prior=1e-6,
    note="set by hand",
)


def u_from_counts(counts, *, pairs):
    """u of each level from level counts among `pairs` random pairs ({field: {level: n}}).

    A level never seen gets half a pair, so that its weight stays finite."""
    u = {}
    for name, levels in LEVELS.items():
        seen = counts.get(name, {})
        observed = sum(n for level, n in seen.items() if level not in NEUTRAL) or pairs or 1
        u[name] = {level: max(seen.get(level, 0), 0.5) / observed
                   for level in levels if level not in NEUTRAL}
    return u


def estimate_m(patterns, fields, u, *, start_m, start_prior=0.3, iterations=60,
               tolerance=1e-5):
    """m of each level of `fields` and the share of matches, by expectation-maximisation.

    `patterns`: [(levels, count)], each `levels` a tuple of one level per name of `fields` (as
    many pairs of the blocked pairs fall in that combination); `u` and `start_m` as
    {field: {level: chance}}. u stays fixed (it comes from random pairs). Returns
    ({field: {level: m}}, share of matches, iterations run).

    A level named by on_postcodes is a city's or street's level under a postcode condition: its
    m is the chance among one person's pairs under that condition, so the levels of one
    condition sum to one among themselves, as the plain ones do.
    """
    m = {name: dict(start_m[name]) for name in fields}
    share = start_prior
    total = sum(count for _, count in patterns) or 1
    done = 0
    for done in range(1, iterations + 1):  # noqa: B007
        matched = 0.0
        sums = {name: dict.fromkeys(m[name], 0.0) for name in fields}
        for levels, count in patterns:
            pm, pu = share, 1 - share
            for name, level in zip(fields, levels, strict=True):
                if level in NEUTRAL:
                    continue
                pm *= m[name][level]
                pu *= u[name][level]
            posterior = pm / (pm + pu) if pm + pu > 0 else 0.0
            weight = posterior * count
            matched += weight
            for name, level in zip(fields, levels, strict=True):
                if level not in NEUTRAL:
                    sums[name][level] += weight
        moved = abs(matched / total - share)
        share = _bounded(matched / total)
        for name in fields:
            observed = {}
            for level, value in sums[name].items():
                condition = condition_of(level)
                observed[condition] = observed.get(condition, 0.0) + value
            for level, value in sums[name].items():
                if observed[condition_of(level)] <= 0:
                    continue
                new = _bounded(value / observed[condition_of(level)])
                moved = max(moved, abs(new - m[name][level]))
                m[name][level] = new
        if moved < tolerance:
            break
    return m, share, done
