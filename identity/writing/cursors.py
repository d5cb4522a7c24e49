"""A cursor for the write path's fixed statements, bound and prepared on the server."""

import psycopg
from django.db import connection


def prepared_cursor():
    """A cursor whose parameters PostgreSQL binds (psycopg's server-side binding).

    Django binds parameters on the client by default: psycopg quotes each value into the SQL
    text, and PostgreSQL parses and plans every statement anew. The write path runs the same
    few statements thousands of times a second; bound on the server, psycopg prepares each one
    after DATABASES["default"]["OPTIONS"]["prepare_threshold"] runs, so a connection plans it
    once, and long arrays go as they are instead of as quoted text. Statements give their
    parameters' types where PostgreSQL cannot infer them (`%s::bigint[]`).

    The cursor is psycopg's own `psycopg.Cursor` (its default, server-binding class) on the
    psycopg connection Django holds, which keeps Django's adapters and transaction state; the
    rest of the ORM keeps Django's client-side binding. Database errors come out as Django's
    (django.db.IntegrityError, OperationalError, ...), as from Django's own cursors, so callers
    catch the same exceptions either way. Its statements are not in `connection.queries`.
    """
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    return BoundCursor(psycopg.Cursor(connection.connection))


class BoundCursor:
    """A psycopg cursor whose calls raise Django's database exceptions
    (`connection.wrap_database_errors`); other attributes are the psycopg cursor's.

    `copy()` hands back psycopg's Copy object, whose errors surface when its block ends: wrap
    that block in `connection.wrap_database_errors` too."""

    __slots__ = ("cursor",)

    def __init__(self, cursor):
        self.cursor = cursor

    def __getattr__(self, name):
        return getattr(self.cursor, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def execute(self, query, params=None):
        with connection.wrap_database_errors:
            return self.cursor.execute(query, params)

    def executemany(self, query, params_seq):
        with connection.wrap_database_errors:
            return self.cursor.executemany(query, params_seq)

    def fetchone(self):
        with connection.wrap_database_errors:
            return self.cursor.fetchone()

    def fetchall(self):
        with connection.wrap_database_errors:
            return self.cursor.fetchall()

    def close(self):
        with connection.wrap_database_errors:
            self.cursor.close()
