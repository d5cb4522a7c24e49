"""Writing the audit history: append-only, each entry hash-chained to the one before."""

import hashlib
import json

from django.db import connection
from django.utils import timezone

from identity.locks import lock_key
from merges.models import AuditEntry

CHAIN_LOCK = lock_key("audit", "chain")


def entry_hash(*, previous_hash, created_at, actor_label, action, targets, before, after):
    content = {
        "previous_hash": previous_hash,
        "created_at": created_at.isoformat(),
        "actor": actor_label,
        "action": action,
        "targets": targets,
        "before": before,
        "after": after,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def record(*, actor, action, targets, before=None, after=None):
    """Append an entry in the caller's transaction; the chain's head is locked until commit."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK])
    previous = AuditEntry.objects.order_by("-id").values_list("hash", flat=True).first() or ""
    actor_label = actor.get_username() if actor is not None else "system"
    created_at = timezone.now()
    return AuditEntry.objects.create(
        created_at=created_at,
        actor=actor,
        actor_label=actor_label,
        action=action,
        targets=targets,
        before=before,
        after=after,
        previous_hash=previous,
        hash=entry_hash(
            previous_hash=previous, created_at=created_at, actor_label=actor_label,
            action=action, targets=targets, before=before, after=after,
        ),
    )
