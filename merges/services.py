"""Services that change candidates and profiles; each writes its audit entry in its transaction."""

from django.db import transaction
from django.utils import timezone

from identity.models import DuplicateCandidate
from merges import audit


class CannotDismiss(Exception):
    pass


@transaction.atomic
def dismiss_candidate(*, candidate, reason, actor):
    """Record a group as "not a duplicate": it is not suggested again for the same profiles
    unless new evidence appears (detection reopens it then)."""
    reason = (reason or "").strip()
    if not reason:
        raise CannotDismiss("say why these are different people")
    candidate = DuplicateCandidate.objects.select_for_update().get(pk=candidate.pk)
    if candidate.status != DuplicateCandidate.Status.OPEN:
        raise CannotDismiss(f"candidate {candidate.pk} is {candidate.status}, not open")
    now = timezone.now()
    before = {"status": candidate.status}
    candidate.status = DuplicateCandidate.Status.DISMISSED
    candidate.dismissed_by = actor
    candidate.dismissed_at = now
    candidate.dismiss_reason = reason
    candidate.closed_at = now
    candidate.updated_at = now
    candidate.save(update_fields=["status", "dismissed_by", "dismissed_at", "dismiss_reason",
                                  "closed_at", "updated_at"])
    audit.record(
        actor=actor, action="candidate.dismissed",
        targets={"candidate": candidate.pk,
                 "profiles": sorted(candidate.profiles.values_list("pk", flat=True))},
        before=before, after={"status": candidate.status, "reason": reason},
    )
    return candidate
