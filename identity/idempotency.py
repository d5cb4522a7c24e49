from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from identity.models import IdempotencyRecord


def purge_expired(*, now=None):
    cutoff = (now or timezone.now()) - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
