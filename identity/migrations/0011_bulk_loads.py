import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("identity", "0010_learned_weights")]

    operations = [
        migrations.CreateModel(
            name="BulkLoad",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),
                ("source", models.CharField(max_length=100)),
                ("started_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("detected_at", models.DateTimeField(
                    blank=True, null=True,
                    help_text="When detection over its profiles ended; empty while loading, or "
                              "when an interrupted load left its profiles to the next load's "
                              "detection.",
                )),
            ],
        ),
        migrations.CreateModel(
            name="BulkLoadProfile",
            fields=[
                ("pk", models.CompositePrimaryKey("load_id", "profile_id", blank=True,
                                                  editable=False, primary_key=True,
                                                  serialize=False)),
                ("load", models.ForeignKey(db_constraint=False, db_index=False,
                                           on_delete=django.db.models.deletion.CASCADE,
                                           related_name="+", to="identity.bulkload")),
                ("profile_id", models.BigIntegerField()),
            ],
        ),
        # Written by every batch of a load, read once at its end: no WAL for it.
        migrations.RunSQL(
            "ALTER TABLE identity_bulkloadprofile SET UNLOGGED",
            "ALTER TABLE identity_bulkloadprofile SET LOGGED",
        ),
    ]
