"""Normalisers: raw identifier values in, the one normalised form out (SPEC section 2).

Every path (API writes, lookups, search boxes, CSV import) goes through `normalise`, so
" Jane@Example.com" written and "jane@example.com" looked up meet.
"""

import re
from functools import lru_cache

import phonenumbers
from django.conf import settings


class InvalidValue(ValueError):
    """A value that does not normalise; the message says why, for a person to read."""


# The practical subset of RFC 5322 that mail systems accept: one @, a dotted domain with a TLD.
EMAIL_RE = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)


def normalise_email(raw):
    value = raw.strip()
    # ASCII only, checked before case folding: a look-alike (the Kelvin sign, a Cyrillic "а")
    # is refused, never folded into another person's address.
    if not value.isascii():
        raise InvalidValue(f"{raw!r} is not a valid email address: it holds non-ASCII letters")
    value = value.lower()
    if not EMAIL_RE.match(value) or len(value) > 254:
        raise InvalidValue(f"{raw!r} is not a valid email address")
    return value


def normalise_phone(raw, *, region=None):
    e164, problem = _e164(raw.strip(), region or settings.DEFAULT_PHONE_REGION)
    if problem:
        raise InvalidValue(f"{raw!r} {problem}")
    return e164


@lru_cache(maxsize=20_000)
def _e164(raw, region):
    """(E.164 form, None) or (None, what is wrong). Cached: phonenumbers was a third of an API
    write's validation, and the same customers write again and again."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None, "is not a phone number"
    if not phonenumbers.is_valid_number(number):
        return None, "is not a valid phone number"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def normalise_trim(raw):
    value = raw.strip()
    if not value:
        raise InvalidValue("the value is empty")
    return value


NORMALISERS = {
    "email": normalise_email,
    "phone": normalise_phone,
    "trim": normalise_trim,
}


def normalise(normaliser, raw):
    """The normalised form of `raw` under the named normaliser, or InvalidValue."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise InvalidValue("the value must be a string")
    return NORMALISERS[normaliser](str(raw))
