from django.db import migrations, models


class Migration(migrations.Migration):
    """API tokens are revoked by marking them, so that a revoked token is told it was revoked."""

    dependencies = [("identity", "0011_bulk_loads")]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="revoked_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
