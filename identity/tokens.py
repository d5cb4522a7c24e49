"""API tokens: shown once when made, stored only as a SHA-256."""

import hashlib
import secrets

from django.utils import timezone

from identity.models import ApiToken

# The stored last_used_at is refreshed at most this often, not on every request.
LAST_USED_RESOLUTION_SECONDS = 60


def token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(*, name):
    """Make a token named `name`; returns the token, which is not stored anywhere."""
    token = f"mg_{secrets.token_urlsafe(32)}"
    ApiToken.objects.create(name=name, token_hash=token_hash(token))
    return token


def authenticate_token(token):
    """The ApiToken for a presented token, or None."""
    api_token = ApiToken.objects.filter(token_hash=token_hash(token)).first()
    if api_token is not None:
        now = timezone.now()
        last = api_token.last_used_at
        if last is None or (now - last).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
            ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
    return api_token
