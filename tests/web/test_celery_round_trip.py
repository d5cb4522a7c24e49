from datetime import timedelta

import pytest
from django.utils import timezone

from identity.models import ApiToken, IdempotencyRecord
from identity.tasks import purge_idempotency_records


@pytest.mark.django_db(transaction=True)
def test_the_worker_purges_idempotency_keys_older_than_a_day(celery_worker):
    token = ApiToken.objects.create(name="shop", token_hash="0" * 64)
    stored = {"response_status": 200, "response_body": {}}
    now = timezone.now()
    old = IdempotencyRecord.objects.create(
        token=token, key="old", body_hash="x", **stored, created_at=now - timedelta(hours=25)
    )
    fresh = IdempotencyRecord.objects.create(
        token=token, key="fresh", body_hash="y", **stored, created_at=now - timedelta(hours=23)
    )

    purged = purge_idempotency_records.delay().get(timeout=30)

    assert purged == 1
    assert not IdempotencyRecord.objects.filter(pk=old.pk).exists()
    assert IdempotencyRecord.objects.filter(pk=fresh.pk).exists()
