import django.db.models.functions.datetime
from django.db import migrations, models


def _sound(column):
    return models.Func(models.F(column), function="soundex")


class Migration(migrations.Migration):
    """Weights learned from the data, stored with the full run that learned them, and the
    indexes of the linkage keys (identity.matching.rules.CONFIG) that let a typo in one field
    not hide a pair: names by their sound, the birth year, the city."""

    dependencies = [("identity", "0009_resilience")]

    operations = [
        migrations.AddField(
            model_name="detectionrun",
            name="weights",
            field=models.JSONField(
                blank=True, default=dict,
                help_text="The comparison weights the run scored with (m, u and weight of each "
                          "level, the prior), learned from the data when it ran; incremental "
                          "detection uses the last successful run's until the next one "
                          "(identity.matching.learning).",
            ),
        ),
        # "Same surname and postcode" and "same first name, surname and city" now go by the
        # names' sound: "Smith" and "Smyth" meet in one block.
        migrations.RemoveIndex(model_name="profilefeatures", name="features_last_postcode"),
        migrations.RemoveIndex(model_name="profilefeatures", name="features_first_last_city"),
        migrations.AddIndex(
            model_name="profilefeatures",
            index=models.Index(_sound("last_name"), models.F("postcode"),
                               name="features_sound_postcode"),
        ),
        migrations.AddIndex(
            model_name="profilefeatures",
            index=models.Index(fields=["date_of_birth", "city"], name="features_dob_city"),
        ),
        migrations.AddIndex(
            model_name="profilefeatures",
            index=models.Index(fields=["first_canon", "postcode"], name="features_first_postcode"),
        ),
        migrations.AddIndex(
            model_name="profilefeatures",
            index=models.Index(fields=["street", "postcode"], name="features_street_postcode"),
        ),
        migrations.AddIndex(
            model_name="profilefeatures",
            index=models.Index(
                _sound("first_canon"), _sound("last_name"),
                django.db.models.functions.datetime.ExtractYear("date_of_birth"),
                name="features_sounds_year",
            ),
        ),
        migrations.AddIndex(
            model_name="profilefeatures",
            index=models.Index(_sound("first_canon"), _sound("last_name"), models.F("city"),
                               name="features_sounds_city"),
        ),
    ]
