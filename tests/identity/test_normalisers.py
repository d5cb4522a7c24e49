import phonenumbers
import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from identity.normalisers import (
    _NORTH_AMERICAN_RE,
    InvalidValue,
    _north_american,
    _valid,
    normalise,
)


@pytest.mark.parametrize("raw", ["Jane@Example.com ", " jane@example.com", "JANE@EXAMPLE.COM"])
def test_emails_are_trimmed_and_lower_cased(raw):
    assert normalise("email", raw) == "jane@example.com"


@pytest.mark.parametrize(
    "raw", ["jane", "jane@", "@example.com", "jane@example", "a b@example.com"]
)
def test_an_invalid_email_is_refused(raw):
    with pytest.raises(InvalidValue, match="not a valid email"):
        normalise("email", raw)


@pytest.mark.parametrize(
    "raw", ["(212) 555-1234", "+1 212 555 1234", "212.555.1234", "+1-212-555-1234 "]
)
def test_phone_formats_meet_in_e164(raw):
    assert normalise("phone", raw) == "+12125551234"


def test_a_phone_without_country_code_takes_the_default_region(settings):
    settings.DEFAULT_PHONE_REGION = "GB"

    assert normalise("phone", "020 7946 0958") == "+442079460958"


@pytest.mark.parametrize("raw", ["0000000000", "555-1234", "not a phone", "+1 000 000 0000"])
def test_an_unusable_phone_is_refused(raw):
    with pytest.raises(InvalidValue, match="phone"):
        normalise("phone", raw)


def test_trim_keeps_case():
    assert normalise("trim", "  AbC-123 ") == "AbC-123"


def test_an_empty_value_is_refused():
    with pytest.raises(InvalidValue, match="empty"):
        normalise("trim", "   ")


def test_numbers_are_taken_as_text_but_other_shapes_are_refused():
    assert normalise("trim", 1234) == "1234"
    with pytest.raises(InvalidValue, match="must be a string"):
        normalise("trim", {"id": 1})


# North American numbers skip phonenumbers.parse (identity.normalisers._north_american): what
# they are read as must be what phonenumbers.parse reads, in every shape the shortcut takes.
@examples(max_examples=400, deadline=None)
@given(
    raw=st.from_regex(_NORTH_AMERICAN_RE, fullmatch=True),
    region=st.sampled_from(["US", "CA", "JM", "PR"]),
)
def test_north_american_numbers_read_as_phonenumbers_reads_them(raw, region):
    read = _north_american(raw, region)
    parsed = phonenumbers.parse(raw, region)

    assert (read.country_code, read.national_number) == (
        parsed.country_code, parsed.national_number
    )
    assert not parsed.italian_leading_zero and not parsed.extension
    # Valid as phonenumbers says, though found sooner for numbers of the default region.
    assert _valid(read, region) == phonenumbers.is_valid_number(parsed)


@pytest.mark.parametrize(
    "raw",
    [
        "+44 20 7946 0958", "+33 1 23 45 67 89",
        "+1 416 555 0134",  # Canada
        "+1 268 464 1234", "+1 268 555 0134",  # Antigua: valid, and not
    ],
)
@pytest.mark.parametrize("region", ["US", "GB", "CA"])
def test_phone_validity_is_phonenumbers_own_whatever_the_default_region(raw, region):
    number = phonenumbers.parse(raw, region)

    assert _valid(number, region) == phonenumbers.is_valid_number(number)


def test_phone_digits_other_than_0_to_9_are_read_by_phonenumbers():
    full_width = "(２１２) ５５５-１２３４"

    assert _north_american(full_width, "US") is None
    assert normalise("phone", full_width) == "+12125551234"


@pytest.mark.parametrize("raw", ["1 212 555 1234", "(212) 555-1234", "+1 212 555 1234"])
def test_outside_north_america_numbers_are_read_by_phonenumbers(raw):
    assert _north_american(raw, "GB") is None
    assert _north_american(raw, "US") is not None


@pytest.mark.parametrize(
    "raw, e164",
    [
        ("1-212-555-1234", "+12125551234"),
        ("+1(416) 555-0134", "+14165550134"),  # Toronto: Canada, valid
        ("2125551234 ", "+12125551234"),
    ],
)
def test_north_american_formats_meet_in_e164(raw, e164):
    assert normalise("phone", raw) == e164


@pytest.mark.parametrize("raw", ["(555) 555-0134", "1 999 555 0134", "+1 211 555 0134"])
def test_a_north_american_number_phonenumbers_calls_invalid_is_refused(raw):
    with pytest.raises(InvalidValue, match="not a valid phone number"):
        normalise("phone", raw)
