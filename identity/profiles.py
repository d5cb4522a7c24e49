"""Reads of profiles through their identifiers: the profile pages (SPEC 8: /profiles/ and
/profiles/<id>/), the API's profile and lookup answers, and where a merged id lands.

They live in identity because they need identifiers, whatever page shows them.
"""

import re
import unicodedata
from dataclasses import dataclass, field

from django.contrib.postgres.search import TrigramWordSimilarity
from django.db.models import Count, Q, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Greatest
from django.utils.dateparse import parse_datetime

from identity.models import CandidateMember, Identifier, IdentifierType, ProfileFeatures
from identity.normalisers import InvalidValue, normalise
from profiles.models import Profile
from profiles.numbers import whole_number

RESULTS = 50


def survivor_of(profile):
    """The active profile a merged one ended in (following a chain, should one remain)."""
    seen = set()
    while profile.status == Profile.Status.MERGED and profile.pk not in seen:
        seen.add(profile.pk)
        profile = Profile.objects.get(pk=profile.merged_into_id)
    return profile


def profile_holding(type_, value):
    """The active profile holding a normalised value: its current holder, else a previous one."""
    identifier = (
        Identifier.objects.filter(
            type=type_, value=value, profile__status=Profile.Status.ACTIVE
        )
        .select_related("profile")
        .order_by("-is_current", "-last_seen")
        .first()
    )
    return identifier.profile if identifier else None


def profile_json(profile):
    identifiers = profile.identifiers.select_related("type").order_by(
        "type__priority", "type__key", "-is_current", "first_seen", "id"
    )
    return {
        "id": profile.pk,
        "status": profile.status,
        "createdAt": profile.created_at.isoformat(),
        "updatedAt": profile.updated_at.isoformat(),
        "attributes": {
            name: {"value": held["v"], "observedAt": held["t"]}
            for name, held in sorted(profile.attributes.items())
        },
        "identifiers": [
            {
                "type": identifier.type.key,
                "value": identifier.value,
                "rawValue": identifier.raw_value,
                "current": identifier.is_current,
                "grantsAccess": identifier.grants_access,
                "source": identifier.source,
                "firstSeen": identifier.first_seen.isoformat(),
                "lastSeen": identifier.last_seen.isoformat(),
            }
            for identifier in identifiers
        ],
    }


@dataclass
class SearchResult:
    profile: Profile
    name: str
    matches: list = field(default_factory=list)  # what matched: "email jane@example.com", ...
    identifiers: list = field(default_factory=list)  # current ones, in type priority order


def profile_search(query):
    """Profiles holding an identifier equal to `query` once normalised by its type's normaliser
    (as writes are), with that profile id, or whose names are like the query's words (pg_trgm).

    A fixed number of queries: types, identifiers, ids, names, the found profiles' identifiers.
    """
    query = (query or "").strip()
    if not query or "\x00" in query:  # no stored value holds a NUL: writes refuse them
        return []
    found = {}  # profile id -> [match]
    for identifier in _identifier_matches(query):
        label = "previous " if not identifier.is_current else ""
        found.setdefault(identifier.profile_id, []).append(
            f"{label}{identifier.type.label}: {identifier.value}"
        )
    pk = whole_number(query.lstrip("#"))
    if pk is not None and Profile.objects.filter(pk=pk).exists():
        found.setdefault(pk, []).append(f"profile id {pk}")
    for pk in _name_matches(query):
        found.setdefault(pk, []).append("name")
    profiles = Profile.objects.filter(pk__in=list(found)[:RESULTS]).annotate(
        first=KT("attributes__first_name__v"), last=KT("attributes__last_name__v")
    )
    results = {
        p.pk: SearchResult(p, " ".join(x for x in (p.first, p.last) if x), found[p.pk])
        for p in profiles
    }
    for identifier in Identifier.objects.filter(
        profile_id__in=list(results), is_current=True
    ).select_related("type").order_by("type__priority", "type__key", "value"):
        results[identifier.profile_id].identifiers.append(identifier)
    return [results[pk] for pk in found if pk in results]


def _identifier_matches(query):
    wanted = Q()
    for type_ in IdentifierType.objects.all():
        try:
            wanted |= Q(type=type_, value=normalise(type_.normaliser, query))
        except InvalidValue:
            continue
    if not wanted:
        return []
    return list(
        Identifier.objects.filter(wanted).select_related("type")
        .order_by("-is_current", "type__priority", "profile_id")[:RESULTS]
    )


def _name_matches(query):
    """Active profiles whose first or last name is like every word of the query, best first."""
    words = [_fold(word) for word in re.split(r"[\s,]+", query)]
    words = [word for word in words if len(word) >= 2][:4]
    if not words:
        return []
    like = Q()
    similarity = Value(0.0)
    for word in words:
        like &= Q(first_name__trigram_word_similar=word) | Q(last_name__trigram_word_similar=word)
        similarity = similarity + Greatest(
            TrigramWordSimilarity(word, "first_name"), TrigramWordSimilarity(word, "last_name")
        )
    return list(
        ProfileFeatures.objects.filter(like).annotate(similarity=similarity)
        .order_by("-similarity", "profile_id").values_list("profile_id", flat=True)[:RESULTS]
    )


def _fold(text):
    """As ProfileFeatures stores names: lower-case, no accents, letters only."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z]", "", plain)


@dataclass
class ProfilePage:
    profile: Profile
    name: str
    attributes: list  # (name, value, observed at)
    identifiers: list  # of Identifier, by type priority
    events: list  # the latest ProfileEvents
    event_count: int
    candidates: list  # (DuplicateCandidate, [other profile ids])


def profile_page(profile, *, events=20):
    """An active profile: identifiers, attributes with observed times, events, candidates."""
    identifiers = list(
        profile.identifiers.select_related("type").order_by(
            "type__priority", "type__key", "-is_current", "first_seen", "id"
        )
    )
    memberships = (
        CandidateMember.objects.filter(profile=profile).select_related("candidate")
        .order_by("-candidate__created_at")
    )
    candidates = [m.candidate for m in memberships]
    members = {}
    for candidate_id, profile_id in CandidateMember.objects.filter(
        candidate_id__in=[c.pk for c in candidates]
    ).exclude(profile=profile).values_list("candidate_id", "profile_id"):
        members.setdefault(candidate_id, []).append(profile_id)
    return ProfilePage(
        profile=profile,
        name=" ".join(
            str(v) for v in (profile.attribute("first_name"), profile.attribute("last_name")) if v
        ),
        attributes=[
            (name.replace("_", " "), held.get("v"), parse_datetime(held.get("t") or ""))
            for name, held in sorted(profile.attributes.items())
        ],
        identifiers=identifiers,
        events=list(profile.events.order_by("-occurred_at")[:events]),
        event_count=profile.events.aggregate(n=Count("id"))["n"],
        candidates=[(c, sorted(members.get(c.pk, []))) for c in candidates],
    )

