"""The pure core of duplicate detection (SPEC section 4): no I/O.

- `CONFIG`: linkage keys, comparisons, weights, thresholds, junk limit and group size, in one
  place (stewards see it on the queue's "How suggestions are made" panel).
- `match_features(attributes)`: the normalised matching fields of a profile, which writes keep
  in `ProfileFeatures` and the detection queries join on.
- `group_edges(edges, max_size)`: connected components of scored edges, strongest first, never
  growing a group past `max_size`.

Similar-people scores are sums of log2 likelihood ratios (Fellegi-Sunter): each compared field
falls in a comparison level (exact, close, ..., far) weighing log2(m/u), a missing value weighs
nothing (identity.matching.weights). For an exact name, postcode or city u is the value's own
frequency, so a shared rare surname says more than a shared "Smith".
"""

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from identity.matching.weights import HAND_SET, LEVELS, NEUTRAL, Weights, on_postcodes

# Common English nicknames and spelling variants -> one canonical first name.
NICKNAMES = {
    "william": ["bill", "billy", "will", "willy", "liam"],
    "robert": ["bob", "bobby", "rob", "robbie", "bert"],
    "richard": ["dick", "rick", "ricky", "rich", "richie"],
    "james": ["jim", "jimmy", "jamie"],
    "john": ["jon", "johnny", "jack", "jonny"],
    "jonathan": ["jonny", "jon"],
    "michael": ["mike", "mikey", "mick"],
    "elizabeth": ["liz", "lizzy", "beth", "betty", "eliza", "libby", "betsy"],
    "margaret": ["maggie", "meg", "peggy", "marge", "greta"],
    "katherine": ["kate", "katie", "kathy", "cathy", "catherine", "kathryn", "kat", "kitty"],
    "christopher": ["chris", "kit", "topher"],
    "christine": ["chris", "chrissy", "tina", "kristine"],
    "thomas": ["tom", "tommy"],
    "joseph": ["joe", "joey"],
    "charles": ["charlie", "chuck", "chas"],
    "daniel": ["dan", "danny"],
    "matthew": ["matt", "matty"],
    "anthony": ["tony"],
    "andrew": ["andy", "drew"],
    "edward": ["ed", "eddie", "ted", "ned"],
    "alexander": ["alex", "sasha", "xander"],
    "alexandra": ["alex", "sasha", "lexi"],
    "benjamin": ["ben", "benny"],
    "samuel": ["sam", "sammy"],
    "samantha": ["sam", "sammy"],
    "nicholas": ["nick", "nicky"],
    "steven": ["steve", "stephen", "stevie"],
    "patricia": ["pat", "patty", "trish", "tricia"],
    "jennifer": ["jen", "jenny"],
    "rebecca": ["becky", "becca"],
    "susan": ["sue", "susie"],
    "deborah": ["deb", "debbie"],
    "kenneth": ["ken", "kenny"],
    "timothy": ["tim", "timmy"],
    "gregory": ["greg"],
    "jessica": ["jess", "jessie"],
    "victoria": ["vicky", "tori"],
    "zachary": ["zach", "zack"],
    "abigail": ["abby", "gail"],
    "theodore": ["theo", "ted", "teddy"],
    "frederick": ["fred", "freddy"],
    "francis": ["frank", "fran"],
    "henry": ["harry", "hank"],
    "lawrence": ["larry"],
    "ronald": ["ron", "ronnie"],
    "donald": ["don", "donnie"],
    "dorothy": ["dot", "dottie"],
    "eleanor": ["ellie", "nell", "nora"],
    "isabella": ["bella", "izzy", "isabel"],
    "olivia": ["liv", "livvy"],
    "sophia": ["sophie"],
    "amelia": ["millie", "amy"],
}
CANONICAL_FIRST_NAME = {}
for _canonical, _names in NICKNAMES.items():
    for _nickname in _names:
        # A nickname of several names (Jon: John, Jonathan) belongs to the first listed.
        CANONICAL_FIRST_NAME.setdefault(_nickname, _canonical)

STREET_WORDS = {
    "street": "st", "avenue": "ave", "road": "rd", "boulevard": "blvd", "drive": "dr",
    "lane": "ln", "place": "pl", "court": "ct", "terrace": "ter", "apartment": "apt",
}


@dataclass(frozen=True)
class LinkageKey:
    name: str
    # What must be equal (and present): ProfileFeatures columns, or SQL expressions over the
    # row `{t}` (e.g. "soundex({t}.last_name)"), each served by an index of ProfileFeatures.
    columns: tuple
    swapped: bool = False  # a.first_name = b.last_name and a.last_name = b.first_name

    def expressions(self, alias):
        return [column.format(t=alias) if "{t}" in column else f"{alias}.{column}"
                for column in self.columns]

    @property
    def fields(self):
        """The compared fields this key makes equal (its pairs cannot teach their m)."""
        found = set()
        for column in self.columns:
            found |= {name for name in (*COMPARED_FIELDS, "first_canon") if name in column}
        return {"first_name" if name == "first_canon" else name for name in found}


SURNAME_SOUND = "soundex({t}.last_name)"
FIRST_NAME_SOUND = "soundex({t}.first_canon)"
BIRTH_YEAR = "extract(year from {t}.date_of_birth)"


@dataclass(frozen=True)
class DetectionConfig:
    # Profiles sharing a value of a matchable type are suspected duplicates, unless more than
    # `junk_limit` profiles share it (a till's placeholder phone): then it is a junk value.
    junk_limit: int = 50
    # Groups never grow past this; weaker links are dropped and the evidence says so.
    max_group_size: int = 10
    # Blocks larger than this are skipped for one key (the other keys still see the pair).
    max_block_size: int = 40
    # Several keys, so that a typo or a gap in any one field (or two) does not hide a pair.
    linkage_keys: tuple = (
        LinkageKey("same date of birth and first name", ("date_of_birth", "first_canon")),
        LinkageKey("same date of birth and surname", ("date_of_birth", "last_name")),
        LinkageKey("same surname sound and postcode", (SURNAME_SOUND, "postcode")),
        LinkageKey("same date of birth and postcode", ("date_of_birth", "postcode")),
        LinkageKey("same date of birth and city", ("date_of_birth", "city")),
        LinkageKey("same first name and postcode", ("first_canon", "postcode")),
        LinkageKey("same name sounds and birth year", (FIRST_NAME_SOUND, SURNAME_SOUND,
                                                       BIRTH_YEAR)),
        LinkageKey("same name sounds and city", (FIRST_NAME_SOUND, SURNAME_SOUND, "city")),
        LinkageKey("same street and postcode", ("street", "postcode")),
        LinkageKey("first and last name swapped", ("date_of_birth",), swapped=True),
        LinkageKey("first and last name swapped, same postcode", ("postcode",), swapped=True),
    )
    # The keys whose pairs teach m (each the fields it does not hold equal). They tie a person,
    # not a household: a shared address alone would teach that one person's profiles often
    # differ in first name and birth date.
    training_keys: tuple = ("same date of birth and first name", "same date of birth and surname",
                            "same first name and postcode")
    # "learned": each full run learns the weights from the data (identity.matching.learning)
    # and incremental detection uses the last run's; "hand-set": `hand_set` always.
    weights: str = "learned"
    hand_set: Weights = HAND_SET
    # A similar-people pair is a candidate when its chance of being one person reaches this;
    # the score threshold follows from the weights' prior. `threshold` fixes it instead.
    match_probability: float = 0.5
    threshold: float | None = None
    # Exact agreement on a name, postcode or city weighs by the value's own frequency among
    # profiles (floored at min_u): a shared rare surname says more than a shared "Smith".
    min_u: float = 1e-5
    # Learning: fewer profiles than this keep the hand-set weights; u from the pairs of this
    # many profiles drawn at random; m from about this many of the blocked pairs.
    min_profiles_to_learn: int = 1000
    u_sample_profiles: int = 400
    m_sample_pairs: int = 100_000
    # Evidence weights of the other rules, on the same scale, for the candidate's score.
    shared_value_weights: dict = field(
        default_factory=lambda: {"email": 25.0, "phone": 12.0, "default": 15.0}
    )
    collision_weight: float = 30.0

    def threshold_for(self, weights):
        if self.threshold is not None:
            return self.threshold
        return weights.threshold(self.match_probability)

    def describe(self, weights=None, run=None):
        """The configuration and the weights in use, as a steward reads them."""
        weights = weights or self.hand_set
        return {
            "junk_limit": self.junk_limit,
            "max_group_size": self.max_group_size,
            "threshold": self.threshold_for(weights),
            "match_probability": self.match_probability if self.threshold is None else None,
            "max_block_size": self.max_block_size,
            "linkage_keys": [key.name for key in self.linkage_keys],
            "learned": weights.learned,
            "weights_note": weights.note,
            "run": run,
            "prior": weights.prior,
            "weights": {
                name: [
                    {"level": level,
                     "weight": ("by frequency" if level == "exact" and name in FREQUENCY_COLUMNS
                                else round(weights.weight(name, level), 1)),
                     "m": round(weights.fields[name][level][0], 4),
                     "u": weights.fields[name][level][1]}
                    for level in LEVELS[name] if level not in NEUTRAL
                ] + [
                    # A city's or street's levels where the postcodes differ, or one is missing.
                    {"level": on_postcodes(level, condition),
                     "weight": round(weights.weight(name, level, postcodes=condition), 1),
                     "m": round(chances[level][0], 4), "u": chances[level][1]}
                    for condition in POSTCODE_ORDER
                    for chances in [weights.by_postcode.get(condition, {}).get(name, {})]
                    for level in LEVELS[name] if level in chances
                ]
                for name in COMPARED_FIELDS
            },
            "shared_value_weights": self.shared_value_weights,
            "collision_weight": self.collision_weight,
        }


# The postcode conditions a city's and a street's learned levels are shown under, in this order.
POSTCODE_ORDER = ("differ", "missing")
COMPARED_FIELDS = ("first_name", "last_name", "date_of_birth", "postcode", "city", "street")
FEATURE_FIELDS = [*COMPARED_FIELDS, "first_canon"]
# Fields whose agreement weighs by the value's frequency, and the column counted for it.
FREQUENCY_COLUMNS = {"first_name": "first_canon", "last_name": "last_name", "postcode": "postcode"}

CONFIG = DetectionConfig()


# -- features -----------------------------------------------------------------------------------


_NOT_A_LETTER = re.compile(r"[^a-z]")
_NOT_A_LETTER_DIGIT_OR_SPACE = re.compile(r"[^a-z0-9 ]")
_NOT_A_POSTCODE_CHARACTER = re.compile(r"[^A-Z0-9]")


# Cached: a few thousand names and cities make up most of a million customers, and an import
# folds three of them a row.
@lru_cache(maxsize=65_536)
def _fold(text):
    """Lower-case, accents removed, letters only (hyphens and spaces dropped)."""
    return _NOT_A_LETTER.sub("", _fold_keep_digits(text))


def _text(attributes, name):
    value = attributes.get(name, {}).get("v")
    return value if isinstance(value, str) and value.strip() else None


def _date(value):
    try:
        return date.fromisoformat(value.strip()[:10]) if value else None
    except ValueError:
        return None


def normalise_street(value):
    words = _NOT_A_LETTER_DIGIT_OR_SPACE.sub(" ", _fold_keep_digits(value)).split()
    return " ".join(STREET_WORDS.get(word, word) for word in words) or None


def _fold_keep_digits(text):
    decomposed = unicodedata.normalize("NFKD", str(text))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


# The longest value of each matching field (ProfileFeatures' columns): writes refuse an attribute
# longer than this (identity.writing.parsing), and a normalised value that still exceeds it (a
# character that decomposes into several) is not matched on, never cut short.
FEATURE_MAX_LENGTHS = {
    "first_name": 100, "first_canon": 100, "last_name": 100, "postcode": 20, "city": 100,
    "street": 200,
}


def match_features(attributes):
    """The matching fields of a profile's attributes ({"name": {"v", "t"}}), normalised."""
    first = _fold(_text(attributes, "first_name") or "") or None
    last = _fold(_text(attributes, "last_name") or "") or None
    postcode = _text(attributes, "postcode")
    city = _text(attributes, "city")
    street = _text(attributes, "street")
    features = {
        "first_name": first,
        "first_canon": CANONICAL_FIRST_NAME.get(first, first) if first else None,
        "last_name": last,
        "date_of_birth": _date(_text(attributes, "date_of_birth")),
        "postcode": (_NOT_A_POSTCODE_CHARACTER.sub("", postcode.upper()) or None
                     if postcode else None),
        "city": _fold(city) or None if city else None,
        "street": normalise_street(street) if street else None,
    }
    for name, longest in FEATURE_MAX_LENGTHS.items():
        if features[name] is not None and len(features[name]) > longest:
            features[name] = None
    return features


# -- grouping -------------------------------------------------------------------------------------


@dataclass
class Group:
    members: set
    edges: list = field(default_factory=list)  # (a, b, score, evidence) kept in the group
    dropped: list = field(default_factory=list)  # edges dropped to respect max_group_size


def group_edges(edges, *, max_size):
    """Connected components of `edges` (a, b, score, evidence), strongest edges first.

    An edge that would join two groups into one larger than `max_size` is dropped (and kept on
    both groups' `dropped` list, so their evidence can say so). Returns the groups of two or more.
    """
    parent = {}
    size = {}
    groups = {}

    def find(x):
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    for edge in sorted(edges, key=lambda e: (-e[2], e[0], e[1])):
        a, b = edge[0], edge[1]
        ra, rb = find(a), find(b)
        if ra == rb:
            groups[ra].edges.append(edge)
            continue
        sa, sb = size.get(ra, 1), size.get(rb, 1)
        if sa + sb > max_size:
            for root in (ra, rb):
                groups.setdefault(root, Group(members={root})).dropped.append(edge)
            continue
        if sa < sb:
            ra, rb, sa, sb = rb, ra, sb, sa
        parent[rb] = ra
        size[ra] = sa + sb
        group = groups.setdefault(ra, Group(members={ra}))
        other = groups.pop(rb, Group(members={rb}))
        group.members |= other.members
        group.edges += other.edges + [edge]
        group.dropped += other.dropped
    return [group for group in groups.values() if len(group.members) >= 2]
