"""Test data made through the real services, as the product makes it."""

import html
import json
import time

from django.utils.html import strip_tags

from identity.api.tokens import create_api_token
from identity.writing.parsing import parse_write
from identity.writing.resolution import identifier_types, resolve_write, resolve_writes
from profiles.models import Profile


def write(record, match_key, **options):
    """Resolve one write through the real service; returns its Resolution."""
    payload = {"record": record, "matchKey": match_key, **options}
    return resolve_write(parse_write(payload, types=identifier_types()))


def make_profile(match_key="email", **record):
    return Profile.objects.get(pk=write(record, match_key).profile_id)


def population(size=100):
    """Other customers, so that names and postcodes have realistic frequencies."""
    types = identifier_types()
    resolve_writes([
        parse_write({"record": {
            "email": f"p{n}@example.com", "first_name": f"Name{n}", "last_name": f"Family{n % 7}",
            "date_of_birth": f"{1940 + n % 60}-01-0{1 + n % 9}", "postcode": f"9{n:04}",
        }, "matchKey": "email"}, types=types)
        for n in range(size)
    ])


def make_token(name="webshop"):
    return create_api_token(name=name)


def post_json(client, url, body, token, **headers):
    """POST a JSON body to the API with a bearer token, through Django's test client."""
    return client.post(
        url,
        data=body if isinstance(body, (str, bytes)) else json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}", **headers},
    )


def identifiers_of(profile_id, *, current=None):
    """{type key: sorted values} of a profile, as a steward would list them."""
    profile = Profile.objects.get(pk=profile_id)
    held = {}
    for identifier in profile.identifiers.select_related("type"):
        if current is None or identifier.is_current == current:
            held.setdefault(identifier.type.key, []).append(identifier.value)
    return {key: sorted(values) for key, values in held.items()}


def wait_for(predicate, seconds=60, every=0.05):
    """Whether `predicate()` came true within `seconds` (work a real worker does meanwhile)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def text_of(page):
    """A page (a response or its HTML) as a person reads it: its words without the markup,
    spaces collapsed."""
    markup = page if isinstance(page, str) else page.content.decode()
    return " ".join(html.unescape(strip_tags(markup)).split())
