"""Weights learned from the data, without labels (SPEC 4), in a bounded pass over PostgreSQL.

- u, the chance of each comparison level between different people, from the pairs of a few
  hundred profiles drawn at random (nearly all such pairs are different people);
- m, the chance of each level between one person's profiles, by expectation-maximisation over
  the pairs the linkage keys bring together, u held fixed. A key's pairs agree on its own
  fields by construction, so each key teaches m only for the other fields, and a field's m is
  the mean of what the keys teach (as Splink does);
- the chance that two different people of one postcode share a city or a street (where the
  postcodes agree, the city and street then weigh against it: an address counts once; EM sees
  them as missing there, having no u of theirs to weigh them by);
- m and u of a city's and a street's levels where the postcodes differ, and where one is
  missing, apart from the others (EM sees them as levels of their own): one person who moved
  has another postcode, another street and often another city, which is one move, not three
  differences;
- the prior, the chance that two random profiles are one person: for each key, its pairs times
  their share of matches, over the share of true pairs the key can find at all (the product of
  its fields' exact m).

At most `m_sample_pairs` pairs per key and `u_sample_profiles` profiles are read, whatever the
number of profiles. The comparisons are identity.matching.levels', the same detection scores.
A full run stores what it learned (DetectionRun.weights); incremental detection and "why not?"
use the last run's until the next full run learns again (`current_weights`).
"""

import math
import statistics
from dataclasses import replace

from django.db import connection

from identity.matching.levels import SWAPPED_SQL, level_sql
from identity.matching.rules import COMPARED_FIELDS, CONFIG
from identity.matching.weights import (
    IN_POSTCODE,
    LEVELS,
    NEUTRAL,
    POSTCODE_CONDITIONS,
    Weights,
    condition_of,
    estimate_m,
    on_postcodes,
    u_from_counts,
)
from identity.models import DetectionRun


def current_weights(config=CONFIG):
    """The weights detection uses now: the last successful full run's, when weights are learned
    and a run has learned them; else the hand-set ones."""
    return _current(config)[0]


def _current(config):
    """(weights, the run they come from or None)."""
    if config.weights != "learned":
        return config.hand_set, None
    run = (
        DetectionRun.objects.filter(status=DetectionRun.Status.SUCCEEDED)
        .exclude(weights={}).order_by("-finished_at", "-pk").only("pk", "finished_at", "weights")
        .first()
    )
    return (Weights.from_json(run.weights), run) if run else (config.hand_set, None)


def how_suggestions_are_made(config=CONFIG):
    """The configuration and the weights in use, as the "How suggestions are made" panel
    shows them."""
    weights, run = _current(config)
    return config.describe(weights, run)


def learn_weights(config, pairs_table, key_pairs):
    """Weights learned from the profiles now in the database (hand-set ones when too few).

    `pairs_table`: a table of the pairs the linkage keys bring together (a, b, keys: a bit for
    each key of config.linkage_keys), `key_pairs`: how many pairs each key brings.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM identity_profilefeatures")
        (profiles,) = cursor.fetchone()
        if profiles < config.min_profiles_to_learn:
            return replace(config.hand_set, note=(
                f"set by hand: {profiles:,} profiles are too few to learn from (at least "
                f"{config.min_profiles_to_learn:,})"))
        u_counts, conditional_counts, u_pairs = _random_pair_levels(cursor, config)
        in_postcode = {**config.hand_set.in_postcode, **_in_postcode(cursor, config)}
        patterns = _blocked_patterns(cursor, pairs_table, sum(key_pairs), config)
    u = u_from_counts(u_counts, pairs=u_pairs)
    # Fields too few profiles hold for random pairs to say how often strangers agree on them
    # keep their hand-set weights, and EM sees them as missing: a u made of a handful of pairs
    # would weigh even a different street as strong evidence.
    sparse = sorted(
        name for name in COMPARED_FIELDS
        if sum(n for level, n in u_counts.get(name, {}).items() if level not in NEUTRAL)
        < MIN_RANDOM_PAIRS_PER_FIELD
    )
    for name in sparse:
        u[name] = {level: mu[1] for level, mu in config.hand_set.fields[name].items()}
    start = {name: {level: mu[0] for level, mu in levels.items()}
             for name, levels in config.hand_set.fields.items()}
    # (field, postcode condition) compared often enough in random pairs to learn apart; the
    # others keep the plain chances.
    conditioned = set()
    for (name, condition), counts in conditional_counts.items():
        observed = sum(n for level, n in counts.items() if level not in NEUTRAL)
        if observed < MIN_PAIRS_CONDITIONED or name in sparse:
            continue
        conditioned.add((name, condition))
        for level in LEVELS[name]:
            if level not in NEUTRAL:
                u[name][on_postcodes(level, condition)] = max(counts.get(level, 0), 0.5) / observed
                start[name][on_postcodes(level, condition)] = start[name][level]
    taught = {name: [] for name in COMPARED_FIELDS}
    matches = []
    for position, key in enumerate(config.linkage_keys):
        if key.swapped or key.name not in config.training_keys:
            continue
        fields = [name for name in COMPARED_FIELDS if name not in key.fields]
        found = {}
        for keys, levels, count in patterns:
            if keys & (1 << position):
                projected = _projected(levels, fields, conditioned, sparse)
                found[projected] = found.get(projected, 0) + count
        if sum(found.values()) < MIN_PAIRS_PER_KEY:
            continue
        m, share, _ = estimate_m(list(found.items()), fields, u, start_m=start)
        for name in fields:
            # A key holding the postcodes equal never sees them differ or missing: it teaches
            # nothing of the levels under those conditions.
            taught[name].append({level: chance for level, chance in m[name].items()
                                 if "postcode" in fields or not condition_of(level)})
        if key.fields == _plain_fields(key):
            # The key finds a true pair when it agrees exactly on each of its fields.
            reach = math.prod(m_exact(taught, start, name) for name in key.fields)
            matches.append(share * key_pairs[position] / reach)
    m = {}
    for name in COMPARED_FIELDS:
        m[name] = dict(start[name])
        for level in m[name]:
            found = [chances[level] for chances in taught[name] if level in chances]
            if found:
                m[name][level] = statistics.fmean(found)
    all_pairs = profiles * (profiles - 1) / 2
    prior = (statistics.median(matches) / all_pairs) if matches else config.hand_set.prior
    fields = {
        name: dict(config.hand_set.fields[name]) if name in sparse else
        {level: (m[name][level], u[name][level]) for level in LEVELS[name] if level not in NEUTRAL}
        for name in COMPARED_FIELDS
    }
    by_postcode = {}
    for name, condition in sorted(conditioned):
        named = {level: on_postcodes(level, condition) for level in LEVELS[name]
                 if level not in NEUTRAL}
        by_postcode.setdefault(condition, {})[name] = {
            level: (m[name][label], u[name][label]) for level, label in named.items()}
    return Weights(
        fields=fields, prior=min(max(prior, 1e-12), 0.5), learned=True,
        in_postcode=in_postcode, by_postcode=by_postcode,
        note=f"learned from {profiles:,} profiles" + (
            f"; {', '.join(name.replace('_', ' ') for name in sparse)} set by hand: too "
            f"few profiles hold {'it' if len(sparse) == 1 else 'them'} to learn from"
            if sparse else ""),
        figures={"profiles": profiles, "random_pairs": u_pairs,
                 "blocked_pairs_read": sum(count for _, _, count in patterns),
                 "estimated_true_pairs": round(prior * all_pairs)},
    )


MIN_PAIRS_PER_KEY = 50
# Random pairs with a field on both profiles needed to learn that field's weights.
MIN_RANDOM_PAIRS_PER_FIELD = 1000
# Random pairs under a postcode condition, with a city (or street) on both, needed to weigh that
# field apart under it.
MIN_PAIRS_CONDITIONED = 100


def _projected(levels, fields, conditioned, sparse=()):
    """The levels (one per COMPARED_FIELDS) of `fields`; a city's or street's named for the
    pair's postcode condition where (field, condition) is in `conditioned`, and "missing" where
    the postcodes agree: there the city is nearly always the same, and a shared street is weighed
    against the chance in one postcode (Weights.in_postcode), not against any two people."""
    postcode = levels[COMPARED_FIELDS.index("postcode")]
    condition = POSTCODE_CONDITIONS.get(postcode)
    found = []
    for name in fields:
        level = levels[COMPARED_FIELDS.index(name)]
        if name in sparse:
            level = "missing"
        elif name in IN_POSTCODE and postcode == "exact":
            level = "missing"
        elif (name, condition) in conditioned and level not in NEUTRAL:
            level = on_postcodes(level, condition)
        found.append(level)
    return tuple(found)


def m_exact(taught, start, name):
    """The chance one person's two profiles agree exactly on `name` (a nickname counts for a
    first name: keys compare canonical first names), from what the keys taught so far."""
    found = taught[name] or [start[name]]
    levels = ("exact", "nickname") if name == "first_name" else ("exact",)
    return max(statistics.fmean(sum(m[level] for level in levels) for m in found), 1e-3)


def _plain_fields(key):
    """The compared fields `key` makes exactly equal (not through a sound or a year)."""
    return {("first_name" if column == "first_canon" else column)
            for column in key.columns if "{t}" not in column}


def _levels_select():
    return ", ".join(level_sql(name) for name in COMPARED_FIELDS)


def _random_pair_levels(cursor, config):
    """({field: {level: pairs}}, {(IN_POSTCODE field, postcode condition): {level: pairs}},
    pairs) over every pair of `u_sample_profiles` profiles drawn at random (a fixed hash order,
    so that runs over the same data learn the same)."""
    groups = ", ".join(str(i + 1) for i in range(len(COMPARED_FIELDS)))
    cursor.execute(f"""
        WITH drawn AS MATERIALIZED (
            SELECT * FROM identity_profilefeatures
            ORDER BY (profile_id * 2654435761) %% 4294967291 LIMIT %(k)s
        )
        SELECT {_levels_select()}, count(*)
        FROM drawn fa JOIN drawn fb ON fa.profile_id < fb.profile_id
        CROSS JOIN LATERAL ({SWAPPED_SQL}) sw
        GROUP BY {groups}
    """, {"k": config.u_sample_profiles})
    counts = {name: {} for name in COMPARED_FIELDS}
    conditional = {}
    pairs = 0
    for *levels, count in cursor.fetchall():
        pairs += count
        found = dict(zip(COMPARED_FIELDS, levels, strict=True))
        condition = POSTCODE_CONDITIONS.get(found["postcode"])
        for name, level in found.items():
            counts[name][level] = counts[name].get(level, 0) + count
            if name in IN_POSTCODE and condition:
                given = conditional.setdefault((name, condition), {})
                given[level] = given.get(level, 0) + count
    return counts, conditional, pairs


def _in_postcode(cursor, config):
    """{field of IN_POSTCODE: the chance two different people of one postcode agree on it},
    from the profiles of the postcodes of `u_sample_profiles` profiles drawn at random. Pairs
    agreeing on a first name or a birth date are left out: most are one person."""
    agree = ", ".join(
        f"count(*) FILTER (WHERE fa.{name} = fb.{name}) / "
        f"NULLIF(count(*) FILTER (WHERE fa.{name} IS NOT NULL AND fb.{name} IS NOT NULL), 0)"
        f"::float" for name in IN_POSTCODE)
    cursor.execute(f"""
        WITH drawn AS MATERIALIZED (
            SELECT * FROM identity_profilefeatures WHERE postcode IS NOT NULL
            ORDER BY (profile_id * 2654435761) %% 4294967291 LIMIT %(k)s
        )
        SELECT {agree}
        FROM drawn fa
        JOIN identity_profilefeatures fb
          ON fb.postcode = fa.postcode AND fb.profile_id <> fa.profile_id
        WHERE fa.first_name IS DISTINCT FROM fb.first_name
          AND fa.date_of_birth IS DISTINCT FROM fb.date_of_birth
    """, {"k": config.u_sample_profiles})
    found = cursor.fetchone()
    return {name: chance for name, chance in zip(IN_POSTCODE, found, strict=True)
            if chance is not None}


def _blocked_patterns(cursor, pairs_table, pairs, config):
    """[(keys, levels of every compared field, pairs)] over at most about m_sample_pairs of the
    blocked pairs (every pair, or one in so many by a hash of the pair)."""
    every = max(1, math.ceil(pairs / config.m_sample_pairs))
    groups = ", ".join(str(i + 1) for i in range(len(COMPARED_FIELDS) + 1))
    cursor.execute(f"""
        SELECT p.keys, {_levels_select()}, count(*)
        FROM {pairs_table} p
        JOIN identity_profilefeatures fa ON fa.profile_id = p.a
        JOIN identity_profilefeatures fb ON fb.profile_id = p.b
        CROSS JOIN LATERAL ({SWAPPED_SQL}) sw
        WHERE (p.a * 7919 + p.b) % {every} = 0
        GROUP BY {groups}
    """)
    return [(keys, tuple(levels), count) for keys, *levels, count in cursor.fetchall()]
