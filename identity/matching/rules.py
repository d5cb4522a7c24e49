"""The pure core of duplicate detection (SPEC section 4): no I/O.

- `CONFIG`: linkage keys, comparisons, weights, thresholds, junk limit and group size, in one
  place (stewards see it on the queue's "How suggestions are made" panel).
- `match_features(attributes)`: the normalised matching fields of a profile, which writes keep
  in `ProfileFeatures` and the detection queries join on.
- `group_edges(edges, max_size)`: connected components of scored edges, strongest first, never
  growing a group past `max_size`.

Similar-people scores are sums of log2 likelihood ratios (Fellegi-Sunter): agreement on a field
adds log2(m/u), disagreement adds log2((1-m)/(1-u)), a missing value adds nothing. For names u is
the value's own frequency, so a shared rare surname says more than a shared "Smith".
"""

import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

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
    columns: tuple  # ProfileFeatures columns that must all be equal (and present)
    swapped: bool = False  # a.first_name = b.last_name and a.last_name = b.first_name


@dataclass(frozen=True)
class FieldWeights:
    """log2 weights for one compared field."""

    m: float  # chance a true pair agrees
    u: float  # chance two random people agree (names: the value's own frequency instead)
    close: float = 0.0  # weight of the "close"/"typo" level, where the field has one
    nickname: float = 0.0  # first names only

    @property
    def agree(self):
        return math.log2(self.m / self.u)

    @property
    def disagree(self):
        return math.log2((1 - self.m) / (1 - self.u))


@dataclass(frozen=True)
class DetectionConfig:
    # Profiles sharing a value of a matchable type are suspected duplicates, unless more than
    # `junk_limit` profiles share it (a till's placeholder phone): then it is a junk value.
    junk_limit: int = 50
    # Groups never grow past this; weaker links are dropped and the evidence says so.
    max_group_size: int = 10
    # A similar-people pair is a candidate when its score reaches this.
    threshold: float = 20.0
    # Blocks larger than this are skipped for one key (the other keys still see the pair).
    max_block_size: int = 40
    linkage_keys: tuple = (
        LinkageKey("same date of birth and first name", ("date_of_birth", "first_canon")),
        LinkageKey("same date of birth and surname", ("date_of_birth", "last_name")),
        LinkageKey("same surname and postcode", ("last_name", "postcode")),
        LinkageKey("same first name, surname and city", ("first_canon", "last_name", "city")),
        LinkageKey("same date of birth and postcode", ("date_of_birth", "postcode")),
        LinkageKey("first and last name swapped", ("date_of_birth",), swapped=True),
        LinkageKey("first and last name swapped, same postcode", ("postcode",), swapped=True),
    )
    # Names, postcode and city: agreement weighs log2(m/u) with u the value's own frequency
    # among profiles (floored at min_u); `u` below only sets the disagreement weight.
    # m measured on the benchmark's true pairs: a completely different first name, surname or
    # date of birth is rare in one person's profiles (under 1%).
    first_name: FieldWeights = FieldWeights(m=0.995, u=0.01, close=4.0, nickname=5.0)
    last_name: FieldWeights = FieldWeights(m=0.995, u=0.001, close=5.0)
    min_u: float = 1e-5
    swapped_penalty: float = 1.0
    date_of_birth: FieldWeights = FieldWeights(m=0.995, u=1 / 20000, close=8.0)
    postcode: FieldWeights = FieldWeights(m=0.9, u=1 / 5000)
    # City counts only where a postcode is missing: the postcode already says the city.
    city: FieldWeights = FieldWeights(m=0.85, u=1 / 100)
    # u given the same postcode (street is compared for pairs that share a postcode mostly).
    street: FieldWeights = FieldWeights(m=0.75, u=1 / 50, close=3.0)
    # Evidence weights of the other rules, on the same scale, for the candidate's score.
    shared_value_weights: dict = field(
        default_factory=lambda: {"email": 25.0, "phone": 12.0, "default": 15.0}
    )
    collision_weight: float = 30.0

    def describe(self):
        """The configuration as a steward reads it."""
        return {
            "junk_limit": self.junk_limit,
            "max_group_size": self.max_group_size,
            "threshold": self.threshold,
            "max_block_size": self.max_block_size,
            "linkage_keys": [key.name for key in self.linkage_keys],
            "weights": {
                name: {
                    "agree": (
                        "by frequency" if name in FREQUENCY_COLUMNS else round(weights.agree, 1)
                    ),
                    "close": weights.close or None,
                    "nickname": weights.nickname or None,
                    "disagree": round(weights.disagree, 1),
                }
                for name, weights in self.fields().items()
            },
            "shared_value_weights": self.shared_value_weights,
            "collision_weight": self.collision_weight,
        }

    def fields(self):
        return {name: getattr(self, name) for name in COMPARED_FIELDS}


COMPARED_FIELDS = ("first_name", "last_name", "date_of_birth", "postcode", "city", "street")
FEATURE_FIELDS = [*COMPARED_FIELDS, "first_canon"]
# Fields whose agreement weighs by the value's frequency, and the column counted for it.
FREQUENCY_COLUMNS = {
    "first_name": "first_canon", "last_name": "last_name", "postcode": "postcode", "city": "city",
}

CONFIG = DetectionConfig()


# -- features -----------------------------------------------------------------------------------


def _fold(text):
    """Lower-case, accents removed, letters only (hyphens and spaces dropped)."""
    decomposed = unicodedata.normalize("NFKD", str(text))
    return re.sub(r"[^a-z]", "", "".join(c for c in decomposed if not unicodedata.combining(c))
                  .lower())


def _text(attributes, name):
    value = attributes.get(name, {}).get("v")
    return value if isinstance(value, str) and value.strip() else None


def _date(value):
    try:
        return date.fromisoformat(value.strip()[:10]) if value else None
    except ValueError:
        return None


def normalise_street(value):
    words = re.sub(r"[^a-z0-9 ]", " ", _fold_keep_digits(value)).split()
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
        "postcode": re.sub(r"[^A-Z0-9]", "", postcode.upper()) or None if postcode else None,
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
