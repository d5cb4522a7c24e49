"""The daily check of the audit chain (CELERY_BEAT_SCHEDULE: verify-audit-chain)."""

import logging

from celery import shared_task

from merges.audit.chain import verify_and_remember

log = logging.getLogger(__name__)


@shared_task(name="merges.audit.verify_audit_chain")
def verify_audit_chain():
    """Check the whole chain and keep the outcome, which /healthz shows."""
    check = verify_and_remember()
    (log.info if check.passed else log.error)("audit chain: %s", check.describe())
    return check.passed
