"""Whole numbers as requests spell them: ids, cursors and page sizes."""

# PostgreSQL's bigint holds every number of up to 18 digits.
MAX_DIGITS = 18
LARGEST_READ = 10**MAX_DIGITS - 1  # the largest number whole_number reads
LARGEST_ID = 2**63 - 1  # bigint's largest: no row has an id beyond it


def whole_number(text):
    """The whole number `text` spells in ASCII digits (at most 18), else None.

    str.isdigit() is not enough: "²" is a digit that int() cannot read, and a number beyond
    bigint makes PostgreSQL fail where the request deserves a plain "not found" or "invalid".
    """
    if text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS:
        return int(text)
    return None
