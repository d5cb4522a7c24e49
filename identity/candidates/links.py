"""The picture of how a group of profiles is linked (the review page): pure geometry, no I/O.

Laid out here as nodes and edges with coordinates and SVG path data; the template
`identity/partials/graph.html` draws them.
"""

import math
from dataclasses import dataclass

from identity.candidates.blocking import UNIQUE_ID_CONFLICT

GRAPH_WIDTH = 640
LINE_HEIGHT = 17  # of an edge label's lines


@dataclass(frozen=True)
class GraphNode:
    x: int
    y: int
    label: str
    sublabel: str
    kind: str  # "profile" or "value" (a value shared by three or more profiles)
    profile_id: int | None = None  # a profile's node links to its page


@dataclass(frozen=True)
class GraphEdge:
    path: str  # SVG path data: a line, or a curve when one pair has several kinds of link
    kind: str  # an evidence rule, or "conflict" for a blocking unique-ID conflict
    labels: tuple = ()  # of (text, y of its baseline relative to label_y)
    label_x: int = 0
    label_y: int = 0
    label_width: int = 0
    label_height: int = 0


@dataclass(frozen=True)
class Graph:
    width: int
    height: int
    nodes: tuple
    edges: tuple


def link_picture(profiles, evidence, reasons, *, labels=None):
    """The picture of a group: `profiles` [(id, name)] as nodes on a circle, the `evidence`'s
    shared values and similarities as labelled edges, and the different "do not merge" IDs of
    the blocking `reasons`; a value shared by three or more profiles is a node of its own.
    Identifier types are named by their `labels` ({type key: label})."""
    labels = labels or {}
    ids = [pk for pk, _ in profiles]
    count = len(ids)
    height = 260 if count <= 2 else 440
    cx, cy = GRAPH_WIDTH / 2, height / 2
    if count <= 2:
        spots = [(110, cy), (GRAPH_WIDTH - 110, cy)][:count]
    else:
        radius = cy - 60
        spots = [
            (cx + radius * 1.3 * math.cos(2 * math.pi * n / count - math.pi / 2),
             cy + radius * math.sin(2 * math.pi * n / count - math.pi / 2))
            for n in range(count)
        ]
    where = dict(zip(ids, spots, strict=True))
    nodes = [
        GraphNode(round(x), round(y), f"profile {pk}", _clip(name, 22), "profile", pk)
        for (pk, name), (x, y) in zip(profiles, spots, strict=True)
    ]
    pairs = {}  # (a, b, kind) -> [label]
    hubs = []
    for item in evidence:
        members = [pk for pk in item.get("profiles", []) if pk in where]
        if item.get("rule") not in ("shared_value", "collision", "similar_people"):
            continue
        if item["rule"] == "similar_people":
            label = f"similar people {item.get('score', 0):g}"
        else:
            type_label = _lower(labels.get(item.get("type"), str(item.get("type"))))
            prefix = "collision on " if item["rule"] == "collision" else ""
            label = _clip(f"{prefix}{type_label}: {item.get('value')}", 36)
        if len(members) == 2:
            a, b = sorted(members)
            pairs.setdefault((a, b, item["rule"]), []).append(label)
        elif len(members) > 2:
            hubs.append((members, label, item["rule"]))
    if count <= 4:
        for reason in reasons:
            if reason.code != UNIQUE_ID_CONFLICT:
                continue
            holders = [held["profile"] for held in reason.evidence["profiles"]]
            for n, a in enumerate(holders):
                for b in holders[n + 1:]:
                    if a in where and b in where:
                        pairs.setdefault((min(a, b), max(a, b), "conflict"), []).append(
                            _lower(reason.title)
                        )
    edges = []
    by_pair = {}
    for (a, b, kind), labels in pairs.items():
        by_pair.setdefault((a, b), []).append((kind, labels))
    for (a, b), kinds in by_pair.items():
        (x1, y1), (x2, y2) = where[a], where[b]
        for n, (kind, labels) in enumerate(kinds):
            # Several kinds of link between one pair bend apart, each with its own label.
            offset = (n - (len(kinds) - 1) / 2) * 44
            edges.append(_edge(x1, y1, x2, y2, kind, labels, offset))
    for n, (members, label, rule) in enumerate(hubs):
        hx = sum(where[pk][0] for pk in members) / len(members)
        hy = sum(where[pk][1] for pk in members) / len(members) + (n - (len(hubs) - 1) / 2) * 44
        for pk in members:
            edges.append(_edge(hx, hy, *where[pk], rule, (), 0))
        nodes.append(GraphNode(round(hx), round(hy), label, "", "value"))
    return Graph(GRAPH_WIDTH, height, tuple(nodes), tuple(edges))


def _edge(x1, y1, x2, y2, kind, labels, offset):
    """A line from (x1, y1) to (x2, y2), bent `offset` pixels sideways at its middle."""
    length = math.hypot(x2 - x1, y2 - y1) or 1
    nx, ny = (y1 - y2) / length, (x2 - x1) / length  # unit normal
    mx, my = (x1 + x2) / 2 + nx * offset, (y1 + y2) / 2 + ny * offset
    if offset:
        # A quadratic curve passes its control point's half-way: bend twice as far.
        cx, cy = (x1 + x2) / 2 + nx * offset * 2, (y1 + y2) / 2 + ny * offset * 2
        path = f"M{x1:.0f},{y1:.0f} Q{cx:.0f},{cy:.0f} {x2:.0f},{y2:.0f}"
    else:
        path = f"M{x1:.0f},{y1:.0f} L{x2:.0f},{y2:.0f}"
    width = max((len(label) for label in labels), default=0) * 8 + 16
    height = LINE_HEIGHT * len(labels) + 6
    lines = tuple(
        (label, n * LINE_HEIGHT - height // 2 + LINE_HEIGHT) for n, label in enumerate(labels)
    )
    return GraphEdge(path, kind, lines, round(mx), round(my), width, height)


def _lower(label):
    """'Loyalty card' -> 'loyalty card'; an acronym such as 'ID' keeps its case."""
    return label if len(label) > 1 and label[1].isupper() else label[:1].lower() + label[1:]


def _clip(text, length):
    text = str(text)
    return text if len(text) <= length else text[:length - 1] + "…"
