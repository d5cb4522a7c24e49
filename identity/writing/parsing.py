"""A write (SPEC section 3), validated and normalised before anything touches the database.

`parse_write` takes the API's JSON body (or a CSV row shaped like it) and returns a `Write`, or
raises `InvalidWrite` naming the field. Nothing here does I/O beyond the types it is given.
"""

import hashlib
import json
import math
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from identity.matching.rules import FEATURE_MAX_LENGTHS
from identity.normalisers import InvalidValue, normalise
from profiles.text import unstorable

ATTRIBUTE_NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
MAX_VALUE_LENGTH = 1000
MAX_SOURCE_LENGTH = 100
# A write observed later than this ahead of the server's clock is refused: last-write-wins would
# keep its values against every later write until that time came.
MAX_CLOCK_SKEW = timedelta(minutes=5)


class InvalidWrite(Exception):
    """A write that cannot be accepted; nothing of it is written."""

    def __init__(self, field, message, code="invalid"):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.code = code


# Named tuples, not dataclasses: an import makes millions of them, and a frozen dataclass costs
# several times as much to build.
class IdentifierValue(NamedTuple):
    type: object  # IdentifierType
    raw: str
    value: str
    grants_access: bool


class Write(NamedTuple):
    identifiers: tuple  # of IdentifierValue, in record order
    attributes: dict
    match_key: str
    observed_at: datetime
    source: str = ""
    access_contacts: frozenset = frozenset()
    # The matching features of a profile holding just these attributes, when the caller made
    # them beforehand (an import, in its reading process): a profile it creates then has them.
    features: dict | None = None


def observed_time(value):
    """The write's observedAt as an aware UTC datetime; naive times are taken as UTC."""
    now = timezone.now()
    if value is None:
        return now
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is not None:
            if timezone.is_naive(parsed):
                parsed = parsed.replace(tzinfo=UTC)
            parsed = parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # 2026-02-30, T25:00, +25:00, beyond year 9999
        parsed = None
    if parsed is None:
        raise InvalidWrite("observedAt", f"{_shown(value)} is not a valid ISO 8601 date and time")
    if parsed > now + MAX_CLOCK_SKEW:
        raise InvalidWrite(
            "observedAt", f"{value} is in the future: a write is observed at most "
                          f"{MAX_CLOCK_SKEW.seconds // 60} minutes ahead of the server's clock",
        )
    return parsed


def _shown(value):
    """A value as an error message shows it: short, and printable whatever it holds."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def value_problem(text):
    """What keeps `text` from being stored as a value (an identifier's or an attribute's),
    or None: a length over MAX_VALUE_LENGTH, or text PostgreSQL cannot store."""
    if len(text) > MAX_VALUE_LENGTH:
        return f"is longer than {MAX_VALUE_LENGTH} characters"
    return unstorable(text)


def check_text(where, value):
    """Refuse text PostgreSQL cannot store (NUL, lone surrogates) with the field named."""
    if problem := unstorable(value):
        raise InvalidWrite(where, f"the value {problem}")
    return value


def parse_write(payload, *, types, source=""):
    """Validate and normalise a write; `types` maps key -> IdentifierType."""
    if not isinstance(payload, dict):
        raise InvalidWrite("body", "the body must be a JSON object")
    record = payload.get("record")
    if not isinstance(record, dict) or not record:
        raise InvalidWrite("record", "record must be a non-empty object")

    match_key = payload.get("matchKey")
    if not isinstance(match_key, str) or not match_key:
        raise InvalidWrite("matchKey", "matchKey is required: the key of a unique identifier type")
    if match_key not in types:
        raise InvalidWrite("matchKey", f"{match_key!r} is not an identifier type")
    if not types[match_key].unique:
        raise InvalidWrite("matchKey", f"{match_key!r} is not a unique identifier type")
    if record.get(match_key) in (None, "", []):
        raise InvalidWrite("matchKey", f"the record has no {match_key!r} value")

    access = payload.get("accessContacts") or []
    if not isinstance(access, list) or not all(isinstance(key, str) for key in access):
        raise InvalidWrite("accessContacts", "accessContacts must be a list of identifier keys")
    for key in access:
        if key not in types:
            raise InvalidWrite("accessContacts", f"{key!r} is not an identifier type")
        if not types[key].can_grant_access:
            raise InvalidWrite("accessContacts", f"{key!r} identifiers cannot grant access")
        if record.get(key) in (None, "", []):
            raise InvalidWrite("accessContacts", f"the record has no {key!r} value")

    source = payload.get("source", source) or ""
    if not isinstance(source, str) or len(source) > MAX_SOURCE_LENGTH:
        raise InvalidWrite("source", f"source is text of at most {MAX_SOURCE_LENGTH} characters")
    check_text("source", source)

    identifiers = []
    attributes = {}
    for name, value in record.items():
        # Most values are short ASCII text: accepted at once (_plain) as the checks below
        # would accept them. Any other value goes through the checks, which name what is wrong.
        if (type_ := types.get(name)) is not None:
            if _plain(value, MAX_VALUE_LENGTH):
                identifiers.append(
                    _identifier_value(f"record.{name}", type_, value, name in access)
                )
            else:
                identifiers += _identifier_values(name, type_, value, name in access)
        elif _plain(value, _attribute_limit(name)):
            attributes[name] = value
        else:
            attributes[name] = _attribute_value(name, value)

    return Write(
        identifiers=tuple(identifiers),
        attributes=attributes,
        match_key=match_key,
        observed_at=observed_time(payload.get("observedAt")),
        source=source,
        access_contacts=frozenset(access),
    )


def _plain(value, limit):
    """Whether `value` is text of at most `limit` characters that value_problem passes at once:
    ASCII without NUL."""
    return type(value) is str and len(value) <= limit and value.isascii() and "\x00" not in value


@lru_cache(maxsize=4096)
def _attribute_limit(name):
    """The most characters attribute `name` may hold; -1 when it is no attribute name."""
    if not ATTRIBUTE_NAME_RE.fullmatch(name):
        return -1
    return min(MAX_VALUE_LENGTH, FEATURE_MAX_LENGTHS.get(name) or MAX_VALUE_LENGTH)


def _identifier_values(name, type_, value, grants_access):
    """The IdentifierValues of a record's value (one, or a list), without repeats."""
    where = f"record.{name}"
    if isinstance(value, list):
        if type_.single_valued:
            raise InvalidWrite(where, f"{type_.key} holds one value per profile, not a list")
        raws = value
    else:
        raws = [value]
    values = []
    seen = set()
    for index, raw in enumerate(raws):
        at = f"{where}[{index}]" if isinstance(value, list) else where
        if raw is None:
            raise InvalidWrite(at, "an identifier cannot be null: leave it out")
        if isinstance(raw, int) and not isinstance(raw, bool):
            raw = str(raw)  # JSON numbers have at most 4,300 digits (Python's limit)
        if isinstance(raw, str) and (problem := value_problem(raw)):
            raise InvalidWrite(at, f"the value {problem}")
        found = _identifier_value(at, type_, raw, grants_access)
        if found.value not in seen:
            seen.add(found.value)
            values.append(found)
    return values


def _identifier_value(where, type_, raw, grants_access):
    """The IdentifierValue of one checked raw value (text or a number)."""
    try:
        return IdentifierValue(type_, str(raw), normalise(type_.normaliser, raw), grants_access)
    except InvalidValue as error:
        raise InvalidWrite(where, str(error)) from None


def _attribute_value(name, value):
    where = f"record.{name}"
    if not ATTRIBUTE_NAME_RE.fullmatch(name):
        raise InvalidWrite(where, "attribute names are letters, digits and underscores, at most 64")
    if value is not None and not isinstance(value, (str, int, float, bool)):
        raise InvalidWrite(where, "an attribute is text, a number, true/false or null")
    if isinstance(value, str):
        if problem := value_problem(value):
            raise InvalidWrite(where, f"the value {problem}")
        longest = FEATURE_MAX_LENGTHS.get(name)
        if longest and len(value) > longest:
            raise InvalidWrite(where, f"{name} is matched on: at most {longest} characters")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidWrite(where, "the number is not finite")
    return value


def body_hash(payload):
    """A hash of a write's JSON body that ignores key order and white space."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
