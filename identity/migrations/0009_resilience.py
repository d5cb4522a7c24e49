import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    """Writes that outlive the broker (the PendingDetection outbox) and long jobs that outlive
    their worker (a heartbeat on detection runs and identifier-type jobs)."""

    dependencies = [("identity", "0008_identifier_type_jobs")]

    operations = [
        migrations.CreateModel(
            name="PendingDetection",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),
                ("profile_id", models.BigIntegerField()),
            ],
            options={
                "indexes": [models.Index(fields=["profile_id"], name="pending_detection_profile")],
            },
        ),
        migrations.AddField(
            model_name="detectionrun",
            name="heartbeat_at",
            field=models.DateTimeField(
                default=django.utils.timezone.now, blank=True, null=True,
                help_text="Last sign of life: stamped by its worker while running "
                          "(identity.heartbeat), set when queued or queued again.",
            ),
        ),
        migrations.AddField(
            model_name="identifiertypejob",
            name="heartbeat_at",
            field=models.DateTimeField(
                default=django.utils.timezone.now, blank=True, null=True,
                help_text="Last sign of life: stamped by its worker while running "
                          "(identity.heartbeat), set when queued or queued again.",
            ),
        ),
        migrations.AddIndex(
            model_name="detectionrun",
            index=models.Index(condition=models.Q(("status__in", ["queued", "running"])),
                               fields=["heartbeat_at"], name="detection_run_unfinished"),
        ),
        migrations.AddIndex(
            model_name="identifiertypejob",
            index=models.Index(condition=models.Q(("status__in", ["queued", "running"])),
                               fields=["heartbeat_at"], name="type_job_unfinished"),
        ),
    ]
