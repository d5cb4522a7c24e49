import pytest

from identity.normalisers import InvalidValue, normalise


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
