"""The comparison levels of each compared field, as SQL over a pair's two ProfileFeatures rows
`fa` and `fb` (and `sw.swapped`, whether their first and last names are swapped).

One place for the levels (identity.matching.weights.LEVELS), so that detection, the learning of
weights and "why not?" all compare the same way. Levels survive real typos: names within one
edit or one swap of neighbouring letters (Damerau-Levenshtein 1) are close, within two edits or
sharing most of their trigrams similar; a birth date with one digit wrong, two digits swapped,
day and month swapped or the year off by one is close; postcodes one digit apart are close.
"""

from identity.matching.weights import LEVELS


def _transposed(a, b):
    """`a` is `b` with two neighbouring characters swapped (tested only for equal lengths at
    Levenshtein distance 2, the only ones where it can hold)."""
    return (f"(length({a}) = length({b}) AND levenshtein_less_equal({a}, {b}, 2) = 2 "
            f"AND EXISTS (SELECT 1 FROM generate_series(1, length({b}) - 1) i "
            f"WHERE overlay({b} PLACING reverse(substr({b}, i, 2)) FROM i FOR 2) = {a}))")


def _one_edit(a, b):
    """Damerau-Levenshtein distance 1: one letter added, dropped, changed, or two swapped."""
    return f"(levenshtein_less_equal({a}, {b}, 1) <= 1 OR {_transposed(a, b)})"


def _digit_swapped(a, b):
    """The eight digits `a` are `b`'s with two neighbours swapped."""
    return "(" + " OR ".join(
        f"overlay({b} PLACING reverse(substr({b}, {i}, 2)) FROM {i} FOR 2) = {a}"
        for i in range(1, 8)) + ")"


def _similar_name(a, b):
    return (f"((least(length({a}), length({b})) >= 5 AND levenshtein_less_equal({a}, {b}, 2) <= 2) "
            f"OR similarity({a}, {b}) >= 0.5)")


def _conditions(name):
    """[(level, SQL condition)] of `name`, in LEVELS' order, the last ("far") with none."""
    a, b = f"fa.{name}", f"fb.{name}"
    found = {"missing": f"{a} IS NULL OR {b} IS NULL", "exact": f"{a} = {b}"}
    if name in ("first_name", "last_name"):
        found.update(swapped="sw.swapped", nickname="fa.first_canon = fb.first_canon",
                     close=_one_edit(a, b), similar=_similar_name(a, b))
    elif name == "date_of_birth":
        da, db = f"to_char({a}, 'YYYYMMDD')", f"to_char({b}, 'YYYYMMDD')"
        found["close"] = (
            f"levenshtein_less_equal({da}, {db}, 1) = 1 "
            f"OR (levenshtein_less_equal({da}, {db}, 2) = 2 AND {_digit_swapped(da, db)}) "
            f"OR to_char({a}, 'YYYYDDMM') = {db} "
            f"OR {b} = ({a} + interval '1 year')::date OR {b} = ({a} - interval '1 year')::date"
        )
    elif name == "postcode":
        found["close"] = _one_edit(a, b)
    elif name == "city":
        found["close"] = f"levenshtein_less_equal({a}, {b}, 2) <= 2 OR similarity({a}, {b}) >= 0.5"
    elif name == "street":
        found["close"] = f"levenshtein_less_equal({a}, {b}, 2) <= 2"
        found["similar"] = f"similarity({a}, {b}) >= 0.35"
    return [(level, found.get(level)) for level in LEVELS[name]]


def level_sql(name):
    """The SQL expression of the level of compared field `name` for the pair fa, fb."""
    cases = " ".join(f"WHEN {condition} THEN '{level}'"
                     for level, condition in _conditions(name) if condition)
    return f"CASE {cases} ELSE 'far' END"


# Whether a pair's first and last names are swapped (the lateral `sw` the levels look at).
SWAPPED_SQL = """SELECT fa.first_name = fb.last_name AND fa.last_name = fb.first_name
                        AND fa.first_name <> fa.last_name AS swapped"""
