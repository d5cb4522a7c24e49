"""API tokens: shown once when made, stored only as a SHA-256."""

import hashlib
import secrets

from django.db import connection, transaction
from django.utils import timezone

from identity import hooks
from identity.models import ApiToken
from identity.writing.cursors import prepared_cursor
from identity.writing.resolution import TYPES_FINGERPRINT

# The stored last_used_at is refreshed at most this often, not on every request.
LAST_USED_RESOLUTION_SECONDS = 60


def token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def create_api_token(*, name, user=None, actor=None):
    """Make a token named `name`, acting for `user` (None: an integration token); returns the
    token, which is not stored anywhere. Audited; `actor` None is the command line."""
    token = f"mg_{secrets.token_urlsafe(32)}"
    api_token = ApiToken.objects.create(name=name, token_hash=token_hash(token), user=user)
    hooks.record_action(
        actor=actor, action="api_token.created",
        targets={"api_token": name, "user": user.pk if user else None},
        after={"name": name, "user": user.get_username() if user else None,
               "created_at": api_token.created_at},
    )
    return token


class UnknownToken(Exception):
    pass


@transaction.atomic
def revoke_api_token(*, name, actor=None):
    """Revoke the token named `name`: it stops working at once (reads look tokens up, writes
    check theirs in their own transaction) and is answered 401 saying it was revoked. The row is
    kept, so the admin still shows whose it was and when it was last used. Audited."""
    api_token = ApiToken.objects.select_for_update(of=("self",)).select_related("user").filter(
        name=name).first()
    if api_token is None:
        raise UnknownToken(f"there is no token named {name!r}")
    if api_token.revoked_at is not None:
        raise UnknownToken(f"the token {name!r} was revoked already, at {api_token.revoked_at}")
    api_token.revoked_at = timezone.now()
    api_token.save(update_fields=["revoked_at"])
    hooks.record_action(
        actor=actor, action="api_token.revoked",
        targets={"api_token": name, "user": api_token.user_id},
        before={"name": name,
                "user": api_token.user.get_username() if api_token.user else None,
                "last_used_at": api_token.last_used_at},
        after={"revoked_at": api_token.revoked_at},
    )
    _accepted.clear()
    return api_token


# Tokens this process has accepted, by hash. Only writes use them, and a write's batch checks
# that its token still exists before it writes (resolution.Expected).
_accepted = {}
MAX_ACCEPTED = 1000


def authenticate_token(token, *, accepted=False):
    """The ApiToken for a presented token, or None when it is unknown or revoked.

    Read from the database (a revoked token stops working at once), by one plain query: the ORM
    took a fifth of an API write's CPU here. The same round trip reads the identifier types'
    fingerprint into `types_fingerprint`.

    With `accepted=True`, a token this process accepted before is taken without a query (its
    `types_fingerprint` is then as old as that query): for writes, whose batch checks the token
    (still there, not revoked) and the types they were parsed with in the statement that takes
    its locks.
    """
    digest = token_hash(token)
    api_token = _accepted.get(digest) if accepted else None
    if api_token is None:
        api_token = _read(digest)
        if api_token is None or api_token.revoked_at is not None:
            _accepted.pop(digest, None)
            return None
        if len(_accepted) >= MAX_ACCEPTED:
            _accepted.clear()
        _accepted[digest] = api_token
    now = timezone.now()
    last = api_token.last_used_at
    if last is None or (now - last).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
        ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
        api_token.last_used_at = now
    return api_token


def revoked_at(token):
    """When the presented token was revoked, or None (unknown, or not revoked): for the 401."""
    return (
        ApiToken.objects.filter(token_hash=token_hash(token), revoked_at__isnull=False)
        .values_list("revoked_at", flat=True).first()
    )


FIELDS = ["id", "name", "token_hash", "user_id", "created_at", "last_used_at", "revoked_at"]


def _read(digest):
    with prepared_cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(FIELDS)}, "
            f"({TYPES_FINGERPRINT}) FROM identity_apitoken WHERE token_hash = %s",
            [digest],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    api_token = ApiToken.from_db(connection.alias, FIELDS, row[:len(FIELDS)])
    api_token.types_fingerprint = row[len(FIELDS)]
    return api_token
