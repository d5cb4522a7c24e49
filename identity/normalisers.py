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
    number = _north_american(raw, region)
    if number is None:
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            return None, "is not a phone number"
    if not _valid(number, region):
        return None, "is not a valid phone number"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def _valid(number, region):
    """phonenumbers.is_valid_number(number), sooner for a number of the calling code whose main
    region is the default region (+1 for US): valid in that region is valid, as the region is
    the one is_valid_number looks at first, and the regions that share the code (25 dial +1)
    are not tried one by one. tests/identity/test_normalisers.py checks that they agree."""
    if region == _main_region(number.country_code) and phonenumbers.is_valid_number_for_region(
        number, region
    ):
        return True
    return phonenumbers.is_valid_number(number)


@lru_cache
def _main_region(country_code):
    return phonenumbers.region_code_for_country_code(country_code)


# A North American number as people write it: ten digits, the area code not starting with 0
# or 1, maybe in parentheses, groups maybe split by a space, dot or hyphen, maybe after +1 or 1
# ("+1 212 555 0134", "1-212-555-0134", "(212) 555-0134", "212.555.0134").
_NORTH_AMERICAN_RE = re.compile(
    r"(?:\+?1[ .-]?)?(?:\(([2-9]\d\d)\)|([2-9]\d\d))[ .-]?(\d{3})[ .-]?(\d{4})",
    re.ASCII,  # digits 0-9 only: others (full-width, Arabic-Indic) are phonenumbers' to read
)


def _north_american(raw, region):
    """The number of `raw` when it is written as _NORTH_AMERICAN_RE says and the default
    region dials +1, else None (phonenumbers.parse reads it). phonenumbers.parse reads these
    as country code 1 and those ten digits (tests/identity/test_normalisers.py checks it on
    every shape), at a tenth of the cost: it was 40% of reading an import's rows. Whether the
    number is valid is still phonenumbers' to say."""
    if _dials_north_america(region) and (match := _NORTH_AMERICAN_RE.fullmatch(raw)):
        area = match[1] or match[2]
        return phonenumbers.PhoneNumber(
            country_code=1, national_number=int(f"{area}{match[3]}{match[4]}")
        )
    return None


@lru_cache
def _dials_north_america(region):
    return phonenumbers.country_code_for_region(region) == 1


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
