"""Candidates merged before they named the job that closed them: each gets it from the audit
entry of its merge, which lists the candidates it closed."""

from django.db import migrations

BACKFILL = """
    UPDATE identity_duplicatecandidate c
    SET merge_job_id = (e.targets ->> 'merge_job')::bigint
    FROM merges_auditentry e, jsonb_array_elements_text(e.targets -> 'candidates') AS closed(id)
    WHERE e.action = 'merge.succeeded' AND c.id = closed.id::bigint
      AND c.status = 'merged' AND c.merge_job_id IS NULL
"""


class Migration(migrations.Migration):

    dependencies = [
        ("identity", "0016_candidate_merge_job"),
        ("merges", "0004_audit_chain"),
    ]

    operations = [
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
