"""Reads of the audit history: the /audit/ list (keyset-paged, one query a page), an entry with
its before/after diff, the CSV export, and a profile's timeline."""

from dataclasses import dataclass

from django.db import connection
from django.db.models import Q

from identity.hooks import ErasureFacts
from identity.models import Identifier, IdentifierType
from identity.normalisers import InvalidValue, normalise
from merges.audit.chain import COMMAND_LINE, ERASED
from merges.audit.labels import action_label, target_noun
from merges.models import AuditEntry
from profiles.numbers import LARGEST_ID
from profiles.spreadsheets import safe_cell

# The profiles of a person: from the given ids up to their survivors, then down to every
# profile merged into those. Ids no longer in the table (erased) stay as given.
PERSON_SQL = """
    WITH RECURSIVE up(id, merged_into_id) AS (
        SELECT id, merged_into_id FROM profiles_profile WHERE id = ANY(%(ids)s)
        UNION
        SELECT p.id, p.merged_into_id FROM profiles_profile p JOIN up ON p.id = up.merged_into_id
    ), down(id) AS (
        SELECT id FROM up WHERE merged_into_id IS NULL
        UNION SELECT p.id FROM profiles_profile p JOIN down ON p.merged_into_id = down.id
    )
    SELECT id FROM down UNION SELECT unnest(%(ids)s::bigint[]) ORDER BY 1
"""
TIMELINE = 20


def person_profiles(profile_ids):
    """These profiles, their survivors and every profile merged into those (SPEC 7: a profile's
    history includes the profiles merged into it). One query."""
    if not profile_ids:
        return [0]  # no profile: matches nothing
    with connection.cursor() as cursor:
        cursor.execute(PERSON_SQL, {"ids": sorted(profile_ids)})
        return [row[0] for row in cursor.fetchall()]


def holders_of(raw):
    """Profiles holding the value, current or previous, normalised by each type as searches
    are. Two queries, whatever the number of types."""
    wanted = Q()
    for type_id, normaliser in IdentifierType.objects.values_list("pk", "normaliser"):
        try:
            wanted |= Q(type_id=type_id, value=normalise(normaliser, raw))
        except InvalidValue:
            continue
    if not wanted:
        return []
    return sorted(set(Identifier.objects.filter(wanted).values_list("profile_id", flat=True)))


@dataclass(frozen=True)
class Target:
    key: str  # "profile", "candidate", "merge_job", ...
    noun: str  # as a steward reads it
    value: object  # an id, or a type's key
    url: str = ""  # its page, when it has one (filled by the page: merges.views)


@dataclass(frozen=True)
class AuditRow:
    entry: AuditEntry
    label: str
    targets: tuple  # of Target
    url: str = ""  # the entry's page (filled by the page)
    targets_html: str = ""  # the targets as linked words (filled by the page)

    @property
    def erased(self):
        return self.entry.action == ERASED


def audit_rows(entries):
    return [AuditRow(entry, action_label(entry.action), tuple(_targets(entry.targets)))
            for entry in entries]


def _targets(targets):
    for key, value in targets.items():
        if key == "payloads_erased":
            continue
        for item in value if isinstance(value, list) else [value]:
            yield Target(key.removesuffix("s") if key.endswith("s") else key, target_noun(key),
                         item)


def audit_list():
    """/audit/'s rows before filtering (AuditFilterSet narrows this)."""
    return AuditEntry.objects.all()


@dataclass
class AuditPage:
    rows: list
    older: int | None  # cursor: entries before this id (`before=`)
    newer: int | None  # cursor: entries after this id (`after=`)


def audit_page(queryset, *, before=None, after=None, size=50):
    """One page, newest first, from a cursor: one query, no COUNT."""
    if after is not None:
        entries = list(queryset.filter(id__gt=after).order_by("id")[:size + 1])
        more = len(entries) > size
        entries = entries[:size][::-1]
        has_newer, has_older = more, bool(entries)
    else:
        if before is not None:
            queryset = queryset.filter(id__lt=before)
        entries = list(queryset.order_by("-id")[:size + 1])
        more = len(entries) > size
        entries = entries[:size]
        has_newer, has_older = before is not None, more
    if not entries:
        return AuditPage([], None, None)
    return AuditPage(
        audit_rows(entries),
        entries[-1].pk if has_older else None,
        entries[0].pk if has_newer else None,
    )


def profile_timeline(profile_id, *, size=TIMELINE):
    """The latest entries of a profile and of the profiles merged into it."""
    ids = person_profiles([profile_id])
    entries = AuditEntry.objects.filter(profile_ids__overlap=ids).order_by("-id")[:size]
    return audit_rows(entries)


# Where an erasure entry names what it removed, by kind: the person's profiles, and the
# candidates and merge jobs that held them.
ERASED_TARGETS = {"candidate": "candidates_erased", "merge job": "merge_jobs_erased"}


def erasure_of(kind, pk):
    """ErasureFacts of the entry that erased the profile, candidate or merge job `pk` with its
    person, or None. A profile by the entries' profile index; the others among the (few)
    erasure entries."""
    if not 0 < pk <= LARGEST_ID:  # an address's id may be any digits: no row has it
        return None
    entries = AuditEntry.objects.filter(action=ERASED).order_by("-id")
    if kind == "profile":
        entry = entries.filter(profile_ids__contains=[pk]).first()
    else:
        entry = entries.filter(**{f"targets__{ERASED_TARGETS[kind]}__contains": pk}).first()
    if entry is None:
        return None
    by_command = entry.actor_id is None and entry.actor_label == COMMAND_LINE
    return ErasureFacts(
        entry_id=entry.pk, erased_at=entry.created_at,
        erased_by="an operator at the command line" if by_command else entry.actor_label,
        profile_ids=tuple(entry.targets.get("profiles", ())),
    )


def erasure_feed(*, after=0, limit=100):
    """Erasures after feed position `after`, oldest first: (entries, next cursor). The position
    is the erasure's audit entry id: entries take their ids under the chain's lock, held until
    they commit, so they commit in id order and a reader that keeps its cursor misses none.
    Ids only: the feed holds no personal data."""
    entries = list(AuditEntry.objects.filter(action=ERASED, pk__gt=after).order_by("pk")
                   .only("pk", "created_at", "targets")[:limit])
    return [
        {"erasureId": entry.pk, "profileIds": entry.targets.get("profiles", []),
         "mergeIds": entry.targets.get("merge_jobs_erased", []),
         "erasedAt": entry.created_at.isoformat()}
        for entry in entries
    ], (entries[-1].pk if entries else after)


# -- an entry and its diff ----------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    field: str
    values: tuple  # one per column, as text ("" where the column does not have the field)
    changed: bool


@dataclass(frozen=True)
class EntryDetail:
    row: AuditRow
    columns: tuple  # headings: ("before", "after"), or one per merged profile and the survivor
    changes: list  # of Change, in field order
    also: list  # of (field, value): values recorded beside the comparison (a merge's numbers)
    payload_state: str  # "present", "none" (the action had no values), "erased"
    erased_by: AuditEntry | None


def entry_detail(entry, *, find_eraser=True):
    """An entry with a readable before/after diff: one row per field, changed ones marked."""
    payload = getattr(entry, "payload", None) if entry.payload_hash else None
    erased_by = None
    if payload is not None:
        state, data = "present", payload.data
    elif entry.payload_hash:
        state, data = "erased", {}
        erased_by = find_eraser and (
            AuditEntry.objects.filter(action=ERASED, id__gt=entry.pk,
                                      targets__payloads_erased__contains=entry.pk)
            .order_by("id").first()
        )
    else:
        state, data = "none", {}
    labels = type_labels() if data else {}
    columns, changes, also = compare(data.get("before"), data.get("after"),
                                     survivor=entry.targets.get("survivor"), labels=labels)
    also += list(flatten(data.get("targets"), labels=labels).items())
    return EntryDetail(audit_rows([entry])[0], columns, changes, also, state, erased_by)


def type_labels():
    """{identifier type key: its label}: pages show types by their label (SPEC 8)."""
    return dict(IdentifierType.objects.values_list("key", "label"))


def compare(before, after, *, survivor=None, labels=None):
    """(column headings, [Change], [(field, value)]) for two snapshots.

    A merge's snapshots are compared side by side: each profile before, the survivor after
    (what else it recorded, such as its numbers, is listed beside). Anything else is before
    against after, nested values as "a › b" fields.
    """
    if (isinstance(before, dict) and isinstance(before.get("profiles"), dict)
            and isinstance(after, dict) and isinstance(after.get("survivor"), dict)):
        sides = [(f"profile {pk} before", snapshot)
                 for pk, snapshot in before["profiles"].items()]
        sides.append((f"profile {survivor} after" if survivor else "survivor after",
                      after["survivor"]))
        rest = {**{k: v for k, v in before.items() if k != "profiles"},
                **{k: v for k, v in after.items() if k != "survivor"}}
        also = list(flatten(rest, labels=labels).items())
    else:
        sides, also = [("before", before), ("after", after)], []
    flat = [flatten(snapshot, labels=labels) for _, snapshot in sides]
    fields = list(dict.fromkeys(field for side in flat for field in side))
    changes = []
    for field in fields:
        values = tuple(side.get(field, "") for side in flat)
        changes.append(Change(field, values, len(set(values)) > 1))
    return tuple(heading for heading, _ in sides), changes, also


def flatten(value, prefix="", *, labels=None):
    """Nested snapshots as {"a › b": text}; identifier types by their label."""
    labels = labels or {}
    if value is None:
        return {}
    if isinstance(value, dict):
        flat = {}
        for key, item in value.items():
            name = f"{prefix} › {_words(key)}" if prefix else _words(key)
            if isinstance(item, dict) and item:
                flat.update(flatten(item, name, labels=labels))
            elif _identifiers(item):
                flat[name] = "; ".join(_identifier(i, labels) for i in item)
            elif isinstance(item, list) and any(isinstance(i, dict) for i in item):
                for n, element in enumerate(item, 1):
                    flat.update(flatten(element, f"{name} {_ordinal(element, n)}",
                                        labels=labels))
            elif key in ("type", "identifier_type") and isinstance(item, str):
                flat[name] = labels.get(item, item)
            else:
                flat[name] = show(item)
        return flat
    return {prefix or "value": show(value)}


def _identifiers(item):
    return bool(item) and isinstance(item, list) and all(
        isinstance(i, dict) and "type" in i and "value" in i for i in item
    )


def _identifier(item, labels):
    notes = [note for note, on in (("access", item.get("grants_access")),
                                   ("previous", item.get("current", True) is False)) if on]
    kind = labels.get(item["type"], item["type"])
    return f"{kind} {item['value']}" + (f" ({', '.join(notes)})" if notes else "")


def _ordinal(element, n):
    if isinstance(element, dict) and isinstance(element.get("id"), int):
        return str(element["id"])
    return str(n)


def _words(key):
    return str(key).replace("_", " ")


def show(value):
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(show(v) for v in value) if value else "(none)"
    if isinstance(value, dict):
        return "; ".join(f"{_words(k)}: {show(v)}" for k, v in value.items()) or "(none)"
    return str(value)


# -- CSV ----------------------------------------------------------------------------------------

EXPORT_HEADER = ["entry", "time", "actor", "action", "action code", "objects", "changes"]


def export_rows(queryset, *, chunk=1000):
    """The header, then a row per entry of `queryset`, newest first, a page at a time."""
    yield EXPORT_HEADER
    before = None
    while True:
        entries = queryset.select_related("payload").order_by("-id")
        if before is not None:
            entries = entries.filter(id__lt=before)
        entries = list(entries[:chunk])
        for row in audit_rows(entries):
            entry = row.entry
            detail = entry_detail(entry, find_eraser=False) if entry.payload_hash else None
            changes = ""
            if detail is not None and detail.payload_state == "erased":
                changes = "(personal data erased)"
            elif detail is not None:
                changes = "; ".join([
                    *(f"{c.field}: {' → '.join(v or '—' for v in c.values)}" if c.changed
                      else f"{c.field}: {c.values[-1]}" for c in detail.changes),
                    *(f"{field}: {value}" for field, value in detail.also),
                ])
            yield [
                entry.pk, entry.created_at.isoformat(), safe_cell(entry.actor_label), row.label,
                entry.action, "; ".join(f"{t.noun} {t.value}" for t in row.targets),
                safe_cell(changes),
            ]
        if len(entries) < chunk:
            return
        before = entries[-1].pk
