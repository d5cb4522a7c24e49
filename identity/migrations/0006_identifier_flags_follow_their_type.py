"""Identifiers copy their type's `unique` and `single_valued` flags (the partial unique indexes
need them on the row); a trigger keeps the copies in step with the type, whoever changes it
(the settings page, the admin, SQL). A change the data forbids (a type made unique while two
active profiles share a value) fails on the indexes, and the type's change with it.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION identity_identifier_flags_follow_type() RETURNS trigger AS $$
BEGIN
    UPDATE identity_identifier
    SET is_unique = NEW."unique", is_single_valued = NEW.single_valued
    WHERE type_id = NEW.id
      AND (is_unique, is_single_valued) IS DISTINCT FROM (NEW."unique", NEW.single_valued);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER identifier_flags_follow_type
AFTER UPDATE OF "unique", single_valued ON identity_identifiertype
FOR EACH ROW
WHEN (OLD."unique" IS DISTINCT FROM NEW."unique"
      OR OLD.single_valued IS DISTINCT FROM NEW.single_valued)
EXECUTE FUNCTION identity_identifier_flags_follow_type();
"""

BACKWARD = """
DROP TRIGGER identifier_flags_follow_type ON identity_identifiertype;
DROP FUNCTION identity_identifier_flags_follow_type();
"""


class Migration(migrations.Migration):
    dependencies = [("identity", "0005_identifier_without_redundant_indexes")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
