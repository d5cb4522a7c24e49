"""Reads of profiles and identifiers, shaped for the API and pages."""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import connection
from django.db.models import Count, F, Field, Func, Q, Value
from django.db.models.fields.json import KT
from django.db.models.functions import TruncDate
from django.db.models.lookups import GreaterThan, LessThan
from django.utils import timezone
from django.utils.timesince import timesince

from identity.candidates import blocking
from identity.candidates.blocking import blocking_reasons
from identity.candidates.filters import REASONS, SORTS
from identity.candidates.links import Graph, link_picture
from identity.candidates.states import group_states
from identity.models import DuplicateCandidate, Identifier, IdentifierType, JunkValue
from profiles.models import Profile, ProfileEvent
from profiles.spreadsheets import safe_cell

BLOCKING_CODES = [code for code, _ in REASONS]


def candidate_pages(*, status=None, after=0, page_size=100):
    """Candidates in id order from `after` on, a page at a time, as JSON-ready dicts.

    Each page takes a fixed number of queries (the candidates, their group states), whatever
    its size.
    """
    while True:
        page = candidates_after(status=status, after=after, limit=page_size)
        if not page:
            return
        yield page
        after = page[-1]["id"]


def candidates_after(*, status=None, after=0, limit=100):
    queryset = DuplicateCandidate.objects.filter(pk__gt=after).order_by("pk")
    if status:
        queryset = queryset.filter(status=status)
    candidates = list(queryset[:limit])
    states = group_states([c.pk for c in candidates])
    return [candidate_json(c, states[c.pk]) for c in candidates]


def candidate_json(candidate, state):
    return {
        "id": candidate.pk,
        "status": candidate.status,
        "score": candidate.score,
        "autoMerge": candidate.auto_merge,
        "createdAt": candidate.created_at.isoformat(),
        "updatedAt": candidate.updated_at.isoformat(),
        "profileIds": sorted(profile.id for profile in state.profiles),
        "evidence": candidate.evidence,
        "blockingReasons": [reason_json(reason) for reason in blocking_reasons(state)],
        "mergeId": candidate.merge_job_id,  # the merge job that closed it; None unless merged
    }


def reason_json(reason):
    """A BlockingReason as the API gives it."""
    return {
        "code": reason.code,
        "title": reason.title,
        "evidence": reason.evidence,
        "rule": reason.rule,
        "remedies": [
            {"code": r.code, "text": r.text, "permission": r.permission}
            for r in reason.remedies
        ],
    }


# -- the queue (SPEC 8: /queue/) ----------------------------------------------------------------


def candidate_queue():
    """The queue's rows before filtering: CandidateFilterSet narrows and sorts this."""
    return DuplicateCandidate.objects.select_related("assignee", "dismissed_by")


@dataclass
class QueuePage:
    candidates: list
    next_cursor: str | None  # rows after the last one shown (`after=`)
    previous_cursor: str | None  # rows before the first one shown (`before=`)


def queue_page(queryset, *, sort, after=None, before=None, size=50):
    """One page of `queryset` in `sort` order, from a cursor: one query, no COUNT.

    A cursor is "<sort value>~<id>" of a row; `after` pages forward from it, `before` back.
    With the status filtered on (CandidateFilterSet always does), PostgreSQL reads the page
    from a (status, column, id) index, however deep.
    """
    column, descending = SORTS[sort]
    cursor = _parse_cursor(before or after, column)
    backwards = bool(before) and cursor is not None
    if cursor is not None:
        value, pk = cursor
        # (column, id) < (value, pk) as one row comparison: an index condition on the
        # (status, column, id) indexes, where the expanded OR would be a filter.
        beyond = LessThan if descending != backwards else GreaterThan
        queryset = queryset.filter(
            beyond(_Row(F(column), F("id")), _Row(Value(value), Value(pk)))
        )
    prefix = "-" if descending != backwards else ""
    rows = list(queryset.order_by(f"{prefix}{column}", f"{prefix}id")[:size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    if not rows:
        return QueuePage([], None, None)
    has_next = True if backwards else more
    has_previous = more if backwards else cursor is not None
    return QueuePage(
        rows,
        _cursor(rows[-1], column) if has_next else None,
        _cursor(rows[0], column) if has_previous else None,
    )


class _Row(Func):
    function = "ROW"
    output_field = Field()


def candidate_neighbours(queryset, candidate, *, sort):
    """(previous id, next id) of `candidate` in the filtered queue, for the review page."""
    cursor = _cursor(candidate, SORTS[sort][0])
    after = queue_page(queryset, sort=sort, after=cursor, size=1).candidates
    before = queue_page(queryset, sort=sort, before=cursor, size=1).candidates
    return (before[0].pk if before else None), (after[0].pk if after else None)


def _cursor(candidate, column):
    value = getattr(candidate, column)
    return f"{value.isoformat() if column == 'created_at' else repr(value)}~{candidate.pk}"


def _parse_cursor(text, column):
    value, _, pk = (text or "").rpartition("~")
    try:
        parsed = datetime.fromisoformat(value) if column == "created_at" else float(value)
        return parsed, int(pk)
    except ValueError:
        return None


EXPORT_HEADER = [
    "candidate", "status", "score", "created_at", "assignee", "profile_ids", "names",
    "evidence", "blocking_reasons",
]


def candidate_export_rows(queryset, *, sort, chunk=1000):
    """The header, then a row per candidate of `queryset`, read a page at a time."""
    yield EXPORT_HEADER
    cursor = None
    while True:
        page = queue_page(queryset, sort=sort, after=cursor, size=chunk)
        for row in candidate_rows(page.candidates):
            candidate = row.candidate
            yield [
                candidate.pk, candidate.status, candidate.score,
                candidate.created_at.isoformat(),
                safe_cell(candidate.assignee.get_username() if candidate.assignee else ""),
                " ".join(str(p.id) for p in row.profiles),
                safe_cell("; ".join(p.name for p in row.profiles)),
                safe_cell("; ".join(
                    f"{e.title}: {e.detail}" if e.detail else e.title for e in row.evidence
                )),
                " ".join(row.codes),
            ]
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


SHOWN = 3  # identifier chips of a profile, and evidence lines, a queue row shows


@dataclass(frozen=True)
class ProfileSummary:
    id: int
    name: str
    status: str
    identifiers: tuple  # current IdentifierStates, in type priority order

    @property
    def chips(self):
        return self.identifiers[:SHOWN]

    @property
    def more(self):
        return max(len(self.identifiers) - SHOWN, 0)


@dataclass(frozen=True)
class EvidenceSummary:
    rule: str
    title: str
    detail: str


@dataclass
class QueueRow:
    candidate: DuplicateCandidate
    profiles: list  # of ProfileSummary
    reasons: list  # of BlockingReason
    evidence: list  # of EvidenceSummary

    @property
    def codes(self):
        return list(dict.fromkeys(reason.code for reason in self.reasons))

    @property
    def age(self):
        return timesince(self.candidate.created_at, depth=1)

    @property
    def opened(self):
        """When the candidate was opened, to the minute, in the current time zone."""
        return f"{timezone.localtime(self.candidate.created_at):%Y-%m-%d %H:%M}"

    @property
    def evidence_shown(self):
        return self.evidence[:SHOWN]

    @property
    def evidence_more(self):
        return max(len(self.evidence) - SHOWN, 0)


def candidate_rows(candidates):
    """What the queue shows for each candidate: six queries for any number of them."""
    candidates = list(candidates)
    if not candidates:
        return []
    states = group_states([c.pk for c in candidates])
    types = _type_labels()
    profile_ids = {p.id for state in states.values() for p in state.profiles}
    names = _names(profile_ids)
    rows = []
    for candidate in candidates:
        state = states[candidate.pk]
        rows.append(QueueRow(
            candidate=candidate,
            profiles=[_summary(profile, names, types) for profile in state.profiles],
            reasons=blocking_reasons(state),
            evidence=[evidence_summary(item, types) for item in candidate.evidence],
        ))
    return rows


def _type_labels():
    """{type key: (priority, label)} of every identifier type."""
    return {
        key: (priority, label)
        for key, priority, label in IdentifierType.objects.values_list("key", "priority", "label")
    }


def _names(profile_ids):
    rows = Profile.objects.filter(pk__in=profile_ids).annotate(
        first=KT("attributes__first_name__v"), last=KT("attributes__last_name__v")
    ).values_list("pk", "first", "last")
    return {pk: " ".join(part for part in (first, last) if part) for pk, first, last in rows}


def _summary(profile, names, types):
    current = sorted(
        (i for i in profile.identifiers if i.is_current),
        key=lambda i: (types.get(i.type_key, (99, ""))[0], i.type_key, i.value),
    )
    return ProfileSummary(profile.id, names.get(profile.id) or "", profile.status, tuple(current))


def evidence_summary(item, types):
    """A line a steward reads for one evidence item of a candidate."""
    rule = item.get("rule")
    label = types.get(item.get("type"), (0, item.get("type") or ""))[1]
    if rule == "shared_value":
        return EvidenceSummary(rule, f"Shared {_lower(label)}", item.get("value", ""))
    if rule == "collision":
        return EvidenceSummary(rule, f"Collision on {_lower(label)}", item.get("value", ""))
    if rule == "similar_people":
        agreeing = [
            f"{name.replace('_', ' ')} {compared['level']}"
            for name, compared in item.get("fields", {}).items()
            if compared.get("level") not in ("missing", "far")
        ]
        return EvidenceSummary(
            rule, f"Similar people, score {item.get('score', 0):g}", ", ".join(agreeing)
        )
    return EvidenceSummary(rule or "", "Group size limit", item.get("note", ""))


def _lower(label):
    return label if len(label) > 1 and label[1].isupper() else label[:1].lower() + label[1:]


# -- the review page (SPEC 8: /queue/<id>/) -----------------------------------------------------

ATTRIBUTE_ORDER = ("first_name", "last_name", "date_of_birth", "street", "postcode", "city")


@dataclass
class ProfileColumn:
    profile: Profile
    name: str
    events: int
    last_event: ProfileEvent | None


@dataclass
class CompareRow:
    name: str  # attribute name or identifier type label
    cells: list  # one per profile column
    differs: bool
    key: str = ""


@dataclass
class ReasonPanel:
    reason: object  # BlockingReason
    holdings: list = field(default_factory=list)  # [(ProfileColumn, [Identifier])] to clear


@dataclass
class Review:
    candidate: DuplicateCandidate
    columns: list  # of ProfileColumn
    attributes: list  # of CompareRow, cells {"v", "t"} or None
    identifiers: list  # of CompareRow, cells [Identifier]
    panels: list  # of ReasonPanel
    evidence: list  # of (EvidenceSummary, item)
    graph: Graph
    shared: set  # ids of identifiers whose value two or more profiles of the group hold

    @property
    def blocked(self):
        return bool(self.panels)

    @property
    def codes(self):
        return list(dict.fromkeys(panel.reason.code for panel in self.panels))


def candidate_review(candidate):
    """Everything the side-by-side review shows, in a fixed number of queries."""
    state = group_states([candidate.pk])[candidate.pk]
    ids = [p.id for p in state.profiles]
    columns, identifiers = profile_columns(ids)
    types = {i.type.key: (i.type.priority, i.type.label) for i in identifiers}
    reasons = blocking_reasons(state)
    return Review(
        candidate=candidate,
        columns=columns,
        attributes=_attribute_rows(columns),
        identifiers=_identifier_rows(ids, identifiers),
        panels=[_panel(reason, identifiers, columns) for reason in reasons],
        evidence=[(evidence_summary(item, types), item) for item in candidate.evidence],
        graph=link_picture(
            [(column.profile.pk, column.name) for column in columns], candidate.evidence, reasons,
            labels={key: label for key, (_, label) in types.items()},
        ),
        shared=_shared(identifiers),
    )


@dataclass
class SideBySide:
    """Profiles side by side, as the review page shows them (also the "why not?" page)."""

    columns: list  # of ProfileColumn
    attributes: list  # of CompareRow, cells {"v", "t"} or None
    identifiers: list  # of CompareRow, cells [Identifier]
    panels: list  # of ReasonPanel
    shared: set  # ids of identifiers whose value two or more of the profiles hold


def side_by_side(ids, reasons):
    """The profiles `ids` side by side, with a panel per blocking reason of `reasons`."""
    columns, identifiers = profile_columns(ids)
    return SideBySide(
        columns, _attribute_rows(columns), _identifier_rows(ids, identifiers),
        [_panel(reason, identifiers, columns) for reason in reasons], _shared(identifiers),
    )


def profile_columns(ids):
    """(a ProfileColumn per id, every Identifier of them by type): four queries."""
    profiles = {p.pk: p for p in Profile.objects.filter(pk__in=ids)}
    identifiers = list(
        Identifier.objects.filter(profile_id__in=ids).select_related("type").order_by(
            "type__priority", "type__key", "-is_current", "value"
        )
    )
    counts = dict(
        ProfileEvent.objects.filter(profile_id__in=ids).values("profile_id")
        .annotate(n=Count("id")).values_list("profile_id", "n")
    )
    last_events = {
        event.profile_id: event
        for event in ProfileEvent.objects.filter(profile_id__in=ids)
        .order_by("profile_id", "-occurred_at").distinct("profile_id")
    }
    columns = [
        ProfileColumn(profiles[pk], _name(profiles[pk]), counts.get(pk, 0), last_events.get(pk))
        for pk in ids
    ]
    return columns, identifiers


def _name(profile):
    return " ".join(
        str(part) for part in (profile.attribute("first_name"), profile.attribute("last_name"))
        if part
    )


def _attribute_rows(columns):
    names = {name for column in columns for name in column.profile.attributes}
    ordered = [n for n in ATTRIBUTE_ORDER if n in names] + sorted(names - set(ATTRIBUTE_ORDER))
    rows = []
    for name in ordered:
        cells = [column.profile.attributes.get(name) for column in columns]
        values = {repr(cell.get("v")) for cell in cells if cell and cell.get("v") is not None}
        rows.append(CompareRow(name.replace("_", " "), cells, len(values) > 1, key=name))
    return rows


def _identifier_rows(profile_ids, identifiers):
    by_type = {}
    for identifier in identifiers:
        cells = by_type.setdefault(identifier.type, {pk: [] for pk in profile_ids})
        cells[identifier.profile_id].append(identifier)
    rows = []
    for type_, cells in by_type.items():
        current = [
            frozenset(i.value for i in held if i.is_current) for held in cells.values()
        ]
        held = [values for values in current if values]
        rows.append(CompareRow(
            type_.label, [cells[pk] for pk in profile_ids], len(set(held)) > 1, key=type_.key
        ))
    return rows


def _shared(identifiers):
    """Ids of the identifiers whose value another profile of the group holds too."""
    holders = {}
    for identifier in identifiers:
        holders.setdefault((identifier.type_id, identifier.value), set()).add(
            identifier.profile_id
        )
    return {i.pk for i in identifiers if len(holders[(i.type_id, i.value)]) > 1}


def _panel(reason, identifiers, columns):
    """A blocking reason with the identifiers a steward may clear to lift it."""
    wanted = {}  # profile id -> {(type key, value)}
    if reason.code == blocking.UNIQUE_ID_CONFLICT:
        for held in reason.evidence["profiles"]:
            wanted[held["profile"]] = {(reason.evidence["type"], v) for v in held["values"]}
    elif reason.code == blocking.ACCESS_CONTACT_MISMATCH:
        for held in reason.evidence["profiles"]:
            wanted[held["profile"]] = {(c["type"], c["value"]) for c in held["contacts"]}
    holdings = [
        (column, [
            i for i in identifiers if i.profile_id == column.profile.pk and i.is_current
            and (i.type.key, i.value) in wanted[column.profile.pk]
        ])
        for column in columns if column.profile.pk in wanted
    ]
    return ReasonPanel(reason, holdings)


# -- the dashboard (SPEC 8: /) --------------------------------------------------------------------


@dataclass(frozen=True)
class Day:
    date: date
    opened: int
    closed: int


def dashboard_figures(*, days=30):
    """Queue counts, blocked share by reason, opened and closed per day, junk values."""
    open_ = Q(status=DuplicateCandidate.Status.OPEN)
    counts = DuplicateCandidate.objects.aggregate(
        open=Count("pk", filter=open_),
        blocked=Count("pk", filter=open_ & Q(blocking_codes__overlap=BLOCKING_CODES)),
        dismissed=Count("pk", filter=Q(status=DuplicateCandidate.Status.DISMISSED)),
        merged=Count("pk", filter=Q(status=DuplicateCandidate.Status.MERGED)),
    )
    counts["active_profiles"] = Profile.objects.filter(status=Profile.Status.ACTIVE).count()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT code, count(*) FROM identity_duplicatecandidate, unnest(blocking_codes) code
            WHERE status = 'open' GROUP BY code
            """
        )
        by_code = dict(cursor.fetchall())
    reasons = [
        {"code": code, "count": by_code.get(code, 0),
         "share": by_code.get(code, 0) / counts["open"] if counts["open"] else 0}
        for code in BLOCKING_CODES
    ]
    today = timezone.localdate()
    start = today - timedelta(days=days - 1)
    since = timezone.make_aware(datetime.combine(start, time.min))
    opened = dict(
        DuplicateCandidate.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at")).values("day").annotate(n=Count("pk"))
        .values_list("day", "n")
    )
    closed = dict(
        DuplicateCandidate.objects.filter(closed_at__gte=since)
        .annotate(day=TruncDate("closed_at")).values("day").annotate(n=Count("pk"))
        .values_list("day", "n")
    )
    daily = [
        Day(day, opened.get(day, 0), closed.get(day, 0))
        for day in (start + timedelta(days=n) for n in range(days))
    ]
    return {
        "counts": counts,
        "reasons": reasons,
        "days": daily,
        "busiest": max([1, *(max(d.opened, d.closed) for d in daily)]),
        "opened_total": sum(d.opened for d in daily),
        "closed_total": sum(d.closed for d in daily),
        "junk": list(JunkValue.objects.select_related("type")[:20]),
        "junk_total": JunkValue.objects.count(),
    }
