"""Changing and adding identifier types (SPEC 8a): checked, audited, and followed by jobs.

A change is refused with a sample when the data forbids it (identity.types.impact.refusal),
and nothing is changed. Saved, it is audited with its reason in the same transaction
(identity.hooks.record_action), and leaves its background work as IdentifierTypeJob rows,
queued when the transaction commits: blocking codes recomputed and detection run for the
candidates the change touches; every value re-normalised after a normaliser change.

The identifiers' copies of `unique` and `single_valued` follow the type by a database trigger
(identity/migrations/0006); turning `can_grant_access` off also stops the type's identifiers
from granting access, so the blocking reasons, the profile pages and the API agree.
"""

import re
from functools import partial

from django.db import IntegrityError, transaction

from identity import broker, hooks
from identity.models import Identifier, IdentifierType, IdentifierTypeJob
from identity.tasks import run_identifier_type_job
from identity.types.impact import (
    ChangeRefused,
    InvalidChange,
    Refusal,
    parse_changes,
    refusal,
    settings_after,
)
from identity.types.selectors import forget_type_counts
from profiles.text import unstorable

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
RESERVED_KEYS = frozenset({"add"})  # /settings/identifier-types/add/ is the add page
# A change of these leaves the open candidates' blocking codes or suggestions to recompute.
RECOMPUTE_ON = frozenset({"do_not_merge", "can_grant_access", "matchable", "auto_merge"})
CHANGED = "identifier_type.changed"
ADDED = "identifier_type.added"


def _reason(reason):
    reason = (reason or "").strip()
    if not reason:
        raise InvalidChange("reason", "say why: the reason goes to the audit history")
    if problem := unstorable(reason):
        raise InvalidChange("reason", f"the reason {problem}")
    return reason


def change_identifier_type(*, identifier_type, changes, reason, actor):
    """Apply `changes` ({field: value}) to the type; returns (the type, the jobs queued).

    Raises InvalidChange (bad input, no reason, nothing to change) or ChangeRefused (the data
    forbids it); then nothing is changed.
    """
    reason = _reason(reason)
    with transaction.atomic():
        type_ = IdentifierType.objects.select_for_update().get(pk=identifier_type.pk)
        changes = parse_changes(type_, changes)
        if not changes:
            raise InvalidChange("changes", "nothing would change")
        after = settings_after(type_, changes)
        refused = refusal(type_, after)
        if refused:
            raise ChangeRefused(refused)
        before = {name: getattr(type_, name) for name in changes}
        try:
            with transaction.atomic():
                IdentifierType.objects.filter(pk=type_.pk).update(**changes)
        except IntegrityError:
            # A write made the data forbid it since the check: say so the same way.
            raise ChangeRefused(refusal(type_, after) or Refusal(
                "conflicting_data", next(iter(changes)),
                "The data changed while this was being saved and no longer allows it; "
                "preview the change again.", [], 0,
            )) from None
        outcome = {}
        if changes.get("can_grant_access") is False:
            outcome["access_cleared"] = Identifier.objects.filter(
                type=type_, grants_access=True
            ).update(grants_access=False)
        jobs = []
        if RECOMPUTE_ON & changes.keys():
            jobs.append(_job(type_, IdentifierTypeJob.Kind.RECOMPUTE, changes, actor))
        if "normaliser" in changes:
            jobs.append(_job(type_, IdentifierTypeJob.Kind.RENORMALISE, changes, actor))
        transaction.on_commit(forget_type_counts)
        hooks.record_action(
            actor=actor, action=CHANGED,
            targets={"identifier_type": type_.key, "job": [job.pk for job in jobs]},
            before=before, after={**changes, **outcome, "reason": reason},
        )
    type_.refresh_from_db()
    return type_, jobs


def add_identifier_type(*, values, reason, actor):
    """Create a type from `values` (key, label and any editable field); returns it.

    A new type holds no values yet: only its own settings can refuse it."""
    reason = _reason(reason)
    values = dict(values)
    key = values.pop("key", None)
    if not isinstance(key, str) or not KEY_RE.fullmatch(key) or key in RESERVED_KEYS:
        raise InvalidChange(
            "key", "the key is 1 to 64 lower-case letters, digits and underscores, starting "
                   "with a letter (it is the field name writes use)",
        )
    if "label" not in values:
        raise InvalidChange("label", "label is 1 to 100 characters")
    blank = IdentifierType(key=key)  # the model's defaults
    changes = parse_changes(blank, values)
    after = settings_after(blank, changes)
    refused = refusal(None, after)
    if refused:
        raise ChangeRefused(refused)
    with transaction.atomic():
        if IdentifierType.objects.filter(key=key).exists():
            raise InvalidChange("key", f"there is a type {key} already")
        type_ = IdentifierType.objects.create(key=key, **after)
        transaction.on_commit(forget_type_counts)
        hooks.record_action(
            actor=actor, action=ADDED, targets={"identifier_type": key},
            before=None, after={"key": key, **after, "reason": reason},
        )
    return type_


def _job(type_, kind, changes, actor):
    job = IdentifierTypeJob.objects.create(
        identifier_type=type_, kind=kind, changes=changes, requested_by=actor
    )
    # With the broker down the job waits queued; the beat sends it when the broker is back.
    transaction.on_commit(partial(broker.send, run_identifier_type_job, job.pk))
    return job
