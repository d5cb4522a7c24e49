"""A cursor for the write path's fixed statements, bound and prepared on the server."""

from django.db import connection
from django.db.backends.postgresql.base import ServerBindingCursor


def prepared_cursor():
    """A Django cursor whose parameters PostgreSQL binds (psycopg's server-side binding).

    Django binds parameters on the client by default: psycopg quotes each value into the SQL
    text, and PostgreSQL parses and plans every statement anew. The write path runs the same
    few statements thousands of times a second; bound on the server, psycopg prepares each one
    after DATABASES["default"]["OPTIONS"]["prepare_threshold"] runs, so a connection plans it
    once, and long arrays go as they are instead of as quoted text. Statements give their
    parameters' types where PostgreSQL cannot infer them (`%s::bigint[]`).
    """
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        return connection._prepare_cursor(ServerBindingCursor(connection.connection))
