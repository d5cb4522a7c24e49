"""What the identifier-type settings page reads: the types with their use, and their jobs."""

from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from identity.models import IdentifierType, IdentifierTypeJob
from identity.types.labels import FLAGS

RECENT_JOBS = 5
COUNTS_KEY = "identity:identifier-type-counts"
COUNTS_SECONDS = 300


@dataclass
class TypeRow:
    type: IdentifierType
    identifiers: int
    profiles: int

    @property
    def flags(self):
        """(Flag, on) for each flag, in FLAGS order."""
        return [(flag, getattr(self.type, flag.name)) for flag in FLAGS]


def type_rows():
    """Every type in priority order, with how many identifiers and active profiles use it."""
    counts = type_counts()
    return [TypeRow(type_, *counts["by_type"].get(type_.pk, (0, 0)))
            for type_ in IdentifierType.objects.all()]


def type_counts():
    """{"at": when counted, "by_type": {type id: (identifiers, active profiles)}}.

    Counting reads every identifier (about a second at a million profiles), so the counts are
    kept COUNTS_SECONDS in the cache; a type change or addition forgets them."""
    counts = cache.get(COUNTS_KEY)
    if counts is None:
        with connection.cursor() as cursor:
            cursor.execute("""
                SELECT i.type_id, count(*), count(DISTINCT i.profile_id)
                FROM identity_identifier i
                JOIN profiles_profile p ON p.id = i.profile_id AND p.status = 'active'
                GROUP BY i.type_id
            """)
            by_type = {type_id: (identifiers, profiles)
                       for type_id, identifiers, profiles in cursor.fetchall()}
        counts = {"at": timezone.now(), "by_type": by_type}
        cache.set(COUNTS_KEY, counts, COUNTS_SECONDS)
    return counts


def forget_type_counts():
    cache.delete(COUNTS_KEY)


def type_jobs(type_):
    """The type's latest jobs, newest first."""
    return list(
        IdentifierTypeJob.objects.filter(identifier_type=type_).select_related("requested_by")
        .order_by("-id")[:RECENT_JOBS]
    )
