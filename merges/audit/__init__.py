"""The audit history (SPEC 7): every state-changing action, append-only and hash-chained.

- `chain`: `record(...)`, the one function every action is audited through (identity reaches
  it through `identity.hooks.record_action`), the hashes, and the check of the whole chain;
- `erasure`: a person's right to erasure, which keeps the chain verifiable;
- `labels`: the words stewards see for each action;
- `selectors`, `filters`: the /audit/ pages, their CSV export and the profile timeline;
- `admin_hooks`: role and user changes made in Django's admin;
- `tasks`: the daily check of the chain (Celery beat).

The database refuses UPDATE, DELETE and TRUNCATE of entries (triggers on merges.AuditEntry).
"""

from merges.audit import tasks
from merges.audit.chain import record

__all__ = ["record", "tasks"]
