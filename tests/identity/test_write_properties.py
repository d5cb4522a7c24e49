"""Property tests of the write path (hypothesis): whatever a client sends, the answer is a 2xx
or a 4xx naming what is wrong, never a 500; and writes give the same profile in any order."""

import json
import string
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from identity.writing.parsing import InvalidWrite
from profiles.models import Profile
from tests.factories import make_token, post_json, write

pytestmark = pytest.mark.django_db

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Text as clients send it: any code point (lone surrogates, NUL, confusables, BOMs, CRLF), often
# short, sometimes far over the limits.
TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from("\ufeff\r\n\x00\u212a\u0430\ud800 @.+-_aK0"), max_size=20),
    st.text(min_size=995, max_size=1100),
)
SCALAR = st.one_of(TEXT, st.integers(), st.floats(), st.booleans(), st.none())
VALUE = st.one_of(SCALAR, st.lists(SCALAR, max_size=3), st.dictionaries(TEXT, SCALAR, max_size=2))
KEYS = st.one_of(
    st.sampled_from(["email", "phone", "customer_id", "loyalty_card", "anonymous_id",
                     "first_name", "last_name", "postcode", "city", "date_of_birth"]),
    TEXT,
)
BODY = st.fixed_dictionaries(
    {"record": st.dictionaries(KEYS, VALUE, max_size=5)},
    optional={
        "matchKey": st.one_of(st.sampled_from(["email", "customer_id", "phone"]), TEXT),
        "observedAt": st.one_of(
            st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()), TEXT, SCALAR,
        ),
        "accessContacts": st.one_of(st.lists(KEYS, max_size=2), VALUE),
        "source": st.one_of(TEXT, SCALAR),
    },
)


@PROPERTY_SETTINGS
@given(body=BODY)
def test_any_body_is_answered_with_a_2xx_or_a_4xx_naming_the_field(client, token, body):
    raw = json.dumps(body, ensure_ascii=True, allow_nan=True)

    response = post_json(client, "/api/v1/profiles/upsert", raw, token)

    assert response.status_code in (200, 201, 400), response.content[:300]
    if response.status_code == 400:
        error = response.json()["error"]
        assert error["message"] and error["field"]


@pytest.fixture
def token(db):
    return make_token()


NAMES = st.sampled_from(["tier", "city", "first_name", "note"])
ATTRIBUTE_VALUE = st.one_of(st.none(), st.sampled_from(["gold", "silver", "Leeds", "Ann", ""]),
                            st.integers(-3, 3))
MOMENT = st.integers(0, 5).map(lambda n: datetime(2026, 3, 1, tzinfo=UTC) + timedelta(hours=n))
WRITES = st.lists(st.tuples(st.dictionaries(NAMES, ATTRIBUTE_VALUE, min_size=1, max_size=3),
                            MOMENT), min_size=1, max_size=6)


@PROPERTY_SETTINGS
@given(writes=WRITES, order=st.randoms(use_true_random=False))
def test_the_same_writes_in_any_order_give_the_same_attributes(writes, order):
    shuffled = list(writes)
    order.shuffle(shuffled)
    tag = "".join(order.choice(string.ascii_lowercase) for _ in range(12))
    profiles = []
    for sequence, who in ((writes, "in-order"), (shuffled, "shuffled")):
        email = f"{who}-{tag}@example.com"
        for attributes, moment in sequence:
            write({"email": email, **attributes}, "email", observedAt=moment.isoformat())
        profiles.append(Profile.objects.get(identifiers__value=email))

    assert profiles[0].attributes == profiles[1].attributes


ATTRIBUTE_NAMES = st.one_of(
    st.sampled_from(["tier", "first_name", "postcode", "street", "note\n", "first name", "é"]),
    st.text(alphabet=st.sampled_from("aZ_9 -\n\x00é"), max_size=66),
)
SHORT_TEXT = st.text(alphabet=st.sampled_from("ab \x00\ud800é\u212a"), max_size=30)
LIMITS = {"first_name": 100, "postcode": 20, "street": 200}  # SPEC 3: matched attributes


def _follows_the_rules(name, value):
    """SPEC 3's rules for an attribute, written out on their own."""
    if not (1 <= len(name) <= 64 and all(c.isascii() and (c.isalnum() or c == "_")
                                         for c in name)):
        return False
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return False
        return "\x00" not in value and len(value) <= LIMITS.get(name, 1000)
    return not (isinstance(value, float) and value != value)


@PROPERTY_SETTINGS
@given(name=ATTRIBUTE_NAMES, value=st.one_of(
    SHORT_TEXT, TEXT, st.text(min_size=15, max_size=25), st.text(min_size=95, max_size=205),
    st.integers(), st.floats(allow_infinity=False), st.none(),
))
def test_an_attribute_is_kept_as_written_exactly_when_it_follows_the_rules(name, value):
    from identity.writing.parsing import parse_write
    from identity.writing.resolution import identifier_types

    payload = {"record": {"email": "a@example.com", name: value}, "matchKey": "email"}
    try:
        kept = parse_write(payload, types=identifier_types()).attributes
    except InvalidWrite as refused:
        assert not _follows_the_rules(name, value), refused
        assert refused.field == f"record.{name}"
    else:
        assert _follows_the_rules(name, value)
        assert kept == {name: value}
