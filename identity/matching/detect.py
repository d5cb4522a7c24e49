"""Finding suspected duplicates (SPEC section 4), set-based in PostgreSQL.

Three kinds of edges between active profiles, each with its evidence and a score:

- shared values of matchable types (current and previous), by one GROUP BY; a value held by
  more than `junk_limit` profiles is a junk value instead and makes no edges;
- identity collisions the writes recorded (IdentityConflict);
- similar people: the UNION of one equi-join of ProfileFeatures per linkage key, scored by
  per-field comparison levels in SQL (identity.matching.levels), kept when the score reaches the
  threshold. A full run first learns the weights from its blocked pairs
  (identity.matching.learning) and returns them with its figures; incremental runs use the
  last full run's.

Groups are the connected components of the edges (identity.matching.rules.group_edges). The result
is reconciled with the stored candidates: same profiles keep their candidate (evidence
refreshed), a dismissed group stays dismissed unless new evidence appears, groups that no longer
exist are superseded.

`detect_all` looks at every profile; `detect_for_profiles` at the component of the profiles a
write touched, found by following edges from them, so both give the same candidates.
"""

from django.db import connection, transaction
from django.utils import timezone

from identity.candidates.lifecycle import save_detected_groups
from identity.matching import learning
from identity.matching.evidence import SimilarPair, evidence_key
from identity.matching.levels import SWAPPED_SQL, level_sql
from identity.matching.rules import COMPARED_FIELDS, CONFIG, FREQUENCY_COLUMNS, group_edges
from identity.matching.weights import CEILING, FLOOR, IN_POSTCODE, LEVELS, NEUTRAL
from identity.models import JunkValue
from identity.queries import copy_out, heavy_query_settings, stream

DETECTION_LOCK = 0x6D67_6465_7465_6374  # "mgdetect": one reconciliation at a time
MAX_COMPONENT = 500  # incremental detection follows edges at most this far
# Rare values weigh more (SPEC 4): a value's weight needs the number of profiles. Counted exactly
# below this; above it the planner's estimate (pg_class.reltuples, kept by ANALYZE) serves, so an
# incremental run does not count a million rows for one write. Full and incremental runs use the
# same figure.
EXACT_POPULATION = 10_000


def detect_all(*, config=CONFIG, progress=None, weights=None):
    """Full detection over every active profile; returns figures of the run, with the weights
    it used (`weights`: learned from the data now, unless given or set by hand) as "weights"."""
    progress = progress or (lambda stage, percent: None)
    progress("shared values", 5)
    shared, junk = shared_value_edges(config, None)
    progress("identity collisions", 15)
    collisions = collision_edges(config, None)
    progress("blocking", 20)
    try:
        key_pairs = _block(config)
        if weights is None:
            progress("learning weights", 30)
            weights = (learning.learn_weights(config, BLOCKED_PAIRS, key_pairs)
                       if config.weights == "learned" else config.hand_set)
        progress("similar people", 40)
        similar = _similar_people_edges(config, None, weights,
                                        pairs=f"SELECT a, b FROM {BLOCKED_PAIRS}")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {BLOCKED_PAIRS}")
    progress("grouping", 75)
    groups = group_edges([*shared, *collisions, *similar], max_size=config.max_group_size)
    progress("saving candidates", 85)
    with transaction.atomic():
        _lock()
        _replace_junk(junk, scope=None)
        figures = save_detected_groups(groups, scope=None)
    progress("done", 100)
    figures.update(
        shared_value_edges=len(shared), collision_edges=len(collisions),
        similar_people_edges=len(similar), junk_values=len(junk),
        linkage_key_pairs={key.name: n for key, n in zip(config.linkage_keys, key_pairs,
                                                          strict=True)},
        threshold=config.threshold_for(weights), weights=weights.as_json(),
    )
    return figures


# A full run's blocked pairs (a < b, and `keys`: a bit for each linkage key that brings them
# together), in a temporary table: learning reads a sample of them, scoring all of them.
BLOCKED_PAIRS = "detection_blocked_pairs"


def _block(config):
    """Fill BLOCKED_PAIRS; returns the number of pairs of each linkage key."""
    selects = linkage_selects(config, full=True)
    union = " UNION ALL ".join(f"SELECT a, b, {1 << i} AS k FROM ({select}) key{i}"
                               for i, (_, select) in enumerate(selects))
    counts = ", ".join(f"count(*) FILTER (WHERE keys & {1 << i} <> 0)"
                       for i in range(len(selects)))
    with transaction.atomic(), connection.cursor() as cursor:
        heavy_query_settings(cursor)
        # Every key is an equi-join of the whole table with its blocks: hash joins. The planner
        # cannot tell how many rows share a name's sound, and would loop over an index instead.
        cursor.execute("SET LOCAL enable_nestloop = off")
        # The swapped-name keys join the table with itself on three text columns: a merge join
        # sorts the whole table twice (on disk), a hash join reads it twice.
        cursor.execute("SET LOCAL enable_mergejoin = off")
        cursor.execute(f"DROP TABLE IF EXISTS {BLOCKED_PAIRS}")
        cursor.execute(f"""CREATE TEMPORARY TABLE {BLOCKED_PAIRS} AS
                           SELECT a, b, bit_or(k) AS keys FROM ({union}) found GROUP BY a, b""",
                       {"max_block": config.max_block_size})
        cursor.execute(f"ANALYZE {BLOCKED_PAIRS}")
        cursor.execute(f"SELECT {counts} FROM {BLOCKED_PAIRS}")
        return list(cursor.fetchone())


def detect_for_profiles(profile_ids, *, config=CONFIG, weights=None):
    """Incremental detection for the component around `profile_ids` (after a write), with the
    weights the last full run learned (or `weights`)."""
    weights = weights or learning.current_weights(config)
    component = set(profile_ids)
    frontier = set(profile_ids)
    edges = {}
    junk = {}
    while frontier and len(component) <= MAX_COMPONENT:
        shared, found_junk = shared_value_edges(config, sorted(frontier))
        junk.update(found_junk)
        found = [*shared, *collision_edges(config, sorted(frontier)),
                 *_similar_people_edges(config, sorted(frontier), weights)]
        for edge in found:
            edges[_edge_key(edge)] = edge
        reached = {p for edge in found for p in edge[:2]}
        frontier = reached - component
        component |= reached
    groups = group_edges(edges.values(), max_size=config.max_group_size)
    with transaction.atomic():
        _lock()
        _replace_junk(junk, scope=sorted(component))
        return save_detected_groups(groups, scope=sorted(component))


def _edge_key(edge):
    return (edge[0], edge[1], *evidence_key(edge[3]))


def _lock():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [DETECTION_LOCK])


# -- edges -----------------------------------------------------------------------------------------


def shared_value_edges(config, profile_ids):
    """Edges (a, b, score, evidence) of shared matchable values, and the junk values found."""
    restrict = ""
    params = {"junk": config.junk_limit}
    if profile_ids is not None:
        restrict = """AND (i.type_id, i.value) IN (
            SELECT type_id, value FROM identity_identifier WHERE profile_id = ANY(%(ids)s))"""
        params["ids"] = profile_ids
    # A profile holds a value once (identifier_once_per_profile): count(*) counts profiles.
    # Values are grouped before the profiles table is joined, for the few shared ones only.
    sql = f"""
        WITH shared AS MATERIALIZED (
            SELECT i.type_id, i.value
            FROM identity_identifier i
            JOIN identity_identifiertype t ON t.id = i.type_id AND t.matchable
            WHERE true {restrict}
            GROUP BY i.type_id, i.value
            HAVING count(*) >= 2
        )
        SELECT t.id, t.key, s.value, count(*) AS holders,
               CASE WHEN count(*) <= %(junk)s
                    THEN array_agg(i.profile_id ORDER BY i.profile_id) END AS ids
        FROM shared s
        JOIN identity_identifier i ON i.type_id = s.type_id AND i.value = s.value
        JOIN profiles_profile p ON p.id = i.profile_id AND p.status = 'active'
        JOIN identity_identifiertype t ON t.id = s.type_id
        GROUP BY t.id, t.key, s.value
        HAVING count(*) >= 2
    """
    edges, junk = [], {}
    weights = config.shared_value_weights
    for type_id, key, value, holders, ids in stream(sql, params):
        if ids is None:
            junk[(type_id, value)] = holders
            continue
        score = weights.get(key, weights["default"])
        evidence = {"rule": "shared_value", "type": key, "value": value, "profiles": ids,
                    "score": score}
        edges.extend((ids[0], other, score, evidence) for other in ids[1:])
    return edges, junk


def collision_edges(config, profile_ids):
    restrict = ""
    params = {}
    if profile_ids is not None:
        restrict = "AND (c.profile_id = ANY(%(ids)s) OR c.held_by_id = ANY(%(ids)s))"
        params["ids"] = profile_ids
    sql = f"""
        SELECT LEAST(c.profile_id, c.held_by_id), GREATEST(c.profile_id, c.held_by_id),
               t.key, c.value, t.auto_merge
        FROM identity_identityconflict c
        JOIN identity_identifiertype t ON t.id = c.type_id
        JOIN profiles_profile a ON a.id = c.profile_id AND a.status = 'active'
        JOIN profiles_profile b ON b.id = c.held_by_id AND b.status = 'active'
        WHERE c.kind = 'collision' {restrict}
    """
    score = config.collision_weight
    return [
        (a, b, score, {"rule": "collision", "type": key, "value": value, "profiles": [a, b],
                       "auto_merge": auto_merge, "score": score})
        for a, b, key, value, auto_merge in stream(sql, params)
    ]


def _similar_people_edges(config, profile_ids, weights, pairs=None):
    """Edges (a, b, score, SimilarPair) scored by similar_people_sql.

    A full run keeps about a hundred thousand of these until the groups are saved, so each
    holds its comparison row compactly (levels, weights and common values shared between
    pairs) and becomes an evidence dict only when its group is saved.
    """
    sql, params = similar_people_sql(config, profile_ids, weights, pairs=pairs)
    edges = []
    shared = {}
    threshold = config.threshold_for(weights)
    rows = (stream(sql, params) if profile_ids is not None
            else copy_out(sql, params, SIMILAR_PEOPLE_TYPES))
    for row in rows:
        pair = similar_pair(row, shared, threshold)
        edges.append((pair[0], pair[1], pair[2], pair))
    return edges


def similar_pair(row, shared=None, threshold=None):
    """The SimilarPair of a row of similar_people_sql (or pair_comparison_sql), scored against
    `threshold`: weights to two decimals; values equal to one in `shared` (a dict) are that one
    object."""
    shared = {} if shared is None else shared
    comparisons = tuple(
        shared.setdefault(value, value)
        for value in (round(v, 2) if isinstance(v, float) else v for v in row[3:])
    )
    return SimilarPair(row[0], row[1], round(row[2], 2), comparisons, threshold)


def similar_people_sql(config, profile_ids, weights, *, pairs=None):
    """The statement finding and scoring similar people, built from the configuration and the
    weights in use.

    Full runs (profile_ids None) measure blocks and name frequencies with GROUP BYs joined by
    hash; incremental runs look the same numbers up through the blocking indexes for the few
    rows involved. Both give the same pairs and scores. `pairs`, a statement of pairs (a, b),
    stands for the linkage keys' pairs when a full run has them at hand.
    """
    params = {"max_block": config.max_block_size, "min_u": config.min_u}
    full = profile_ids is None
    if not full:
        params["ids"] = profile_ids
    if pairs is None:
        pairs = " UNION ".join(select for _, select in linkage_selects(config, full=full))
    threshold = config.threshold_for(weights)
    return scored_pairs_sql(config, pairs, full=full, threshold=threshold, weights=weights), params


def pair_comparison_sql(config, a, b, weights):
    """The two statements "why not?" runs for one pair (identity.matching.compare), built by
    the code detection runs, restricted to the pair and at any score:

    - the linkage keys that bring `a` and `b` together: each key's join of an incremental run
      for `a`, kept where it reaches `b` (one row per key, its position in config.linkage_keys);
    - the pair's comparison row, as similar_people_sql's rows, whatever its score.
    """
    params = {"max_block": config.max_block_size, "min_u": config.min_u, "ids": [a],
              "lo": min(a, b), "hi": max(a, b)}
    keys = " UNION ALL ".join(
        f"SELECT {position} FROM ({select}) found WHERE found.a = %(lo)s AND found.b = %(hi)s"
        for position, (_, select) in enumerate(linkage_selects(config, full=False))
    )
    pair = "SELECT %(lo)s::bigint AS a, %(hi)s::bigint AS b"
    scored = scored_pairs_sql(config, pair, full=False, threshold=None, weights=weights)
    return keys, scored, params


# For each block size n, the positions (i, j), i < j, of its pairs: one unnest a block, where
# a series per position would cost a function call for each profile of each block.
PAIR_POSITIONS = """
    SELECT n, array_agg(i ORDER BY i, j) AS i, array_agg(j ORDER BY i, j) AS j
    FROM generate_series(2, %(max_block)s) n
    CROSS JOIN LATERAL generate_series(1, n - 1) i
    CROSS JOIN LATERAL generate_series(i + 1, n) j
    GROUP BY n
"""


def linkage_selects(config, *, full):
    """(LinkageKey, SELECT a, b) for each linkage key: the pairs agreeing on its columns, in
    blocks of at most max_block_size profiles. Incremental (not `full`): pairs of the profiles
    in %(ids)s with any profile."""
    side_a = ("identity_profilefeatures" if full else
              "(SELECT * FROM identity_profilefeatures WHERE profile_id = ANY(%(ids)s))")
    order = "a.profile_id < b.profile_id" if full else "a.profile_id <> b.profile_id"
    selects = []
    for key in config.linkage_keys:
        on_a, on_b = key.expressions("a"), key.expressions("b")
        present = " AND ".join(f"{e} IS NOT NULL" for e in on_a)
        on = " AND ".join(f"{x} = {y}" for x, y in zip(on_a, on_b, strict=True))
        if key.swapped:
            on += (" AND a.first_name = b.last_name AND a.last_name = b.first_name"
                   " AND a.first_name <> a.last_name")
            guard = ""
        elif full:
            # Each block's profiles in one array, its pairs the array's (i, j), i < j: one
            # GROUP BY of the table per key, no join of the table with itself.
            inner = key.expressions("f")
            selects.append((key, f"""
                SELECT blk.ids[p.i] AS a, blk.ids[p.j] AS b
                FROM (SELECT array_agg(f.profile_id ORDER BY f.profile_id) AS ids
                      FROM identity_profilefeatures f
                      WHERE {" AND ".join(f"{e} IS NOT NULL" for e in inner)}
                      GROUP BY {", ".join(inner)}
                      HAVING count(*) BETWEEN 2 AND %(max_block)s) blk
                JOIN ({PAIR_POSITIONS}) positions ON positions.n = cardinality(blk.ids)
                CROSS JOIN LATERAL unnest(positions.i, positions.j) p(i, j)"""))
            continue
        else:
            same = " AND ".join(
                f"{x} = {y}" for x, y in zip(key.expressions("f"), on_a, strict=True))
            guard = f"""JOIN LATERAL (SELECT count(*) AS n FROM (
                            SELECT 1 FROM identity_profilefeatures f WHERE {same}
                            LIMIT %(max_block)s + 1) s) blk ON blk.n <= %(max_block)s"""
        selects.append((key, f"""
            SELECT LEAST(a.profile_id, b.profile_id) AS a,
                   GREATEST(a.profile_id, b.profile_id) AS b
            FROM {side_a} a {guard}
            JOIN identity_profilefeatures b ON {on} AND {order}
            WHERE {present}"""))
    return selects


def frequency_joins(*, full):
    """How many profiles hold fa's value of each FREQUENCY_COLUMNS column (`<field>_freq.n`)."""
    if full:
        return "".join(f"""
            LEFT JOIN (SELECT {column}, count(*)::float AS n FROM identity_profilefeatures
                       GROUP BY {column}) {field}_freq ON {field}_freq.{column} = fa.{column}"""
            for field, column in FREQUENCY_COLUMNS.items())
    return "".join(f"""
        CROSS JOIN LATERAL (SELECT count(*)::float AS n FROM identity_profilefeatures x
                            WHERE x.{column} = fa.{column}) {field}_freq"""
        for field, column in FREQUENCY_COLUMNS.items())


POPULATION_SQL = f"""
    SELECT GREATEST(CASE WHEN counted.n < {EXACT_POPULATION} THEN counted.n
                         ELSE GREATEST(c.reltuples, counted.n) END, 1)::float AS n
    FROM (SELECT count(*) AS n FROM (SELECT FROM identity_profilefeatures
                                     LIMIT {EXACT_POPULATION}) rows) counted,
         pg_class c
    WHERE c.oid = 'identity_profilefeatures'::regclass
"""


def scored_pairs_sql(config, pairs, *, full, threshold, weights):
    """Each pair of the statement `pairs` (a, b) with its score, then each compared field's
    level, weight and two values (SIMILAR_PEOPLE_TYPES); those scoring under `threshold` are
    left out (None: none is)."""
    levels = ", ".join(f"{level_sql(name)} AS {name}" for name in COMPARED_FIELDS)
    field_weights = ", ".join(f"{_weight_sql(name, weights)} AS {name}"
                              for name in COMPARED_FIELDS)
    score = " + ".join(f"wt.{name}" for name in COMPARED_FIELDS)
    columns = ", ".join(f"lv.{name}, wt.{name}, fa.{name}, fb.{name}" for name in COMPARED_FIELDS)
    kept = "" if threshold is None else f"WHERE score >= {threshold}"
    return f"""
        WITH population AS ({POPULATION_SQL}),
        pairs AS ({pairs})
        SELECT * FROM (
            SELECT p.a, p.b, {score} AS score, {columns}
            FROM pairs p
            JOIN identity_profilefeatures fa ON fa.profile_id = p.a
            JOIN identity_profilefeatures fb ON fb.profile_id = p.b
            CROSS JOIN population
            CROSS JOIN LATERAL ({SWAPPED_SQL}) sw
            CROSS JOIN LATERAL (SELECT {levels}) lv
            {frequency_joins(full=full)}
            CROSS JOIN LATERAL (SELECT {field_weights}) wt
        ) scored
        {kept}
    """


def _weight_sql(name, weights):
    """The weight of field `name`'s level lv.<name>: log2(m/u) of the level; for an exact name,
    postcode or city, u is the value's own frequency among profiles (float math: numeric log is
    slow per pair); a city or street, where the postcodes are equal too, against the chance
    that two people of one postcode share it, and where they differ or one is missing, by its
    chances among pairs whose postcodes do the same (Weights.by_postcode)."""
    cases = []
    for level in LEVELS[name]:
        if level in NEUTRAL:
            continue
        if level == "exact" and name in FREQUENCY_COLUMNS and name not in IN_POSTCODE:
            m = min(max(weights.fields[name][level][0], FLOOR), CEILING)
            weight = (f"ln({m!r}::float8 / GREATEST({name}_freq.n / population.n, %(min_u)s))"
                      f" / ln(2.0)")
        elif name in IN_POSTCODE:
            weight = (f"CASE WHEN fa.postcode = fb.postcode "
                      f"THEN {weights.weight(name, level, same_postcode=True)!r}::float8 "
                      f"WHEN fa.postcode <> fb.postcode "
                      f"THEN {weights.weight(name, level, postcodes='differ')!r}::float8 "
                      f"ELSE {weights.weight(name, level, postcodes='missing')!r}::float8 END")
        else:
            weight = f"{weights.weight(name, level)!r}::float8"
        cases.append(f"WHEN '{level}' THEN {weight}")
    return f"(CASE lv.{name} {' '.join(cases)} ELSE 0 END)::float8"


# The column types of similar_people_sql's rows: the pair, its score, then each compared field's
# level, weight and two values.
SIMILAR_PEOPLE_TYPES = ["int8", "int8", "float8"] + [
    t for name in COMPARED_FIELDS
    for t in ("text", "float8", *(["date"] * 2 if name == "date_of_birth" else ["text"] * 2))
]


# -- saving -------------------------------------------------------------------------------------


def _replace_junk(junk, *, scope):
    now = timezone.now()
    if scope is None:
        JunkValue.objects.all().delete()
    JunkValue.objects.bulk_create(
        [JunkValue(type_id=t, value=v, profiles=n, updated_at=now) for (t, v), n in junk.items()],
        update_conflicts=True, unique_fields=["type", "value"],
        update_fields=["profiles", "updated_at"],
    )
