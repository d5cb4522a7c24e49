"""identity.writing.cursors.prepared_cursor: psycopg's server-binding cursor on Django's
connection, with Django's exceptions (resolution retries a batch on django.db.IntegrityError)."""

import psycopg
import pytest
from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction

from identity.writing.cursors import prepared_cursor

pytestmark = pytest.mark.django_db


def test_a_constraint_violation_is_djangos_integrity_error():
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        with prepared_cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE once (value int PRIMARY KEY)")
            cursor.execute("INSERT INTO once VALUES (%s), (%s)", [1, 1])

    assert isinstance(raised.value.__cause__, psycopg.errors.UniqueViolation)


def test_other_database_errors_are_djangos_too():
    with pytest.raises(DataError), transaction.atomic():
        with prepared_cursor() as cursor:
            cursor.execute("SELECT 1 / %s::int", [0])


def test_parameters_are_bound_on_the_server_and_the_statement_prepared():
    threshold = settings.DATABASES["default"]["OPTIONS"].get("prepare_threshold")
    if threshold is None:
        pytest.skip("DATABASE_PREPARED_STATEMENTS is off")
    with transaction.atomic():
        for n in range(threshold + 1):
            with prepared_cursor() as cursor:
                cursor.execute("SELECT %s::bigint + 1", [n])
                assert cursor.fetchone() == (n + 1,)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements "
                "WHERE statement = 'SELECT $1::bigint + 1'"
            )
            assert cursor.fetchone() == (1,)
