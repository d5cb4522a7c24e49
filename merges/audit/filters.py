"""The /audit/ filters (SPEC 7): one FilterSet for the page and its CSV export."""

import functools
from datetime import datetime, time, timedelta

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Subquery
from django.utils import timezone

from merges.audit.labels import ACTIONS
from merges.audit.selectors import holders_of, person_profiles
from merges.filters import ProfileIdFilter
from merges.models import AuditEntry

SYSTEM = "system"


def _actor_choices():
    users = get_user_model().objects.order_by("username").values_list("pk", "username")
    return [(SYSTEM, "System or command line"), *((str(pk), name) for pk, name in users)]


def _action_choices():
    return sorted(ACTIONS.items(), key=lambda item: item[1])


class AuditFilterSet(django_filters.FilterSet):
    """Each filter narrows on an index: action and actor (with id), the time range as a range of
    ids (ids follow time in the chain), profiles through the GIN index on profile_ids."""

    actor = django_filters.ChoiceFilter(
        label="Actor", choices=_actor_choices, method="filter_actor", empty_label="Anyone",
    )
    action = django_filters.ChoiceFilter(
        label="Action", choices=_action_choices, empty_label="Any action",
    )
    since = django_filters.DateFilter(
        label="From", method="filter_since", widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = django_filters.DateFilter(
        label="To", method="filter_until", widget=forms.DateInput(attrs={"type": "date"}),
    )
    profile = ProfileIdFilter(
        label="Profile", method="filter_profile",
        widget=forms.NumberInput(attrs={"placeholder": "profile id", "min": 1}),
    )
    identifier = django_filters.CharFilter(
        label="Identifier value", method="filter_identifier",
        widget=forms.TextInput(attrs={"placeholder": "email, phone, customer id…"}),
    )

    class Meta:
        model = AuditEntry
        fields = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Read when first needed, then once for validating and rendering.
        self.filters["actor"].extra["choices"] = functools.cache(_actor_choices)

    def filter_actor(self, queryset, name, value):
        if value == SYSTEM:
            return queryset.filter(actor__isnull=True)
        return queryset.filter(actor_id=int(value))

    def filter_since(self, queryset, name, value):
        first = (AuditEntry.objects.filter(created_at__gte=_start_of(value))
                 .order_by("created_at", "id").values("id")[:1])
        return queryset.filter(id__gte=Subquery(first))

    def filter_until(self, queryset, name, value):
        last = (AuditEntry.objects.filter(created_at__lt=_start_of(value + timedelta(days=1)))
                .order_by("-created_at", "-id").values("id")[:1])
        return queryset.filter(id__lte=Subquery(last))

    def filter_profile(self, queryset, name, value):
        return queryset.filter(profile_ids__overlap=person_profiles([value]))

    def filter_identifier(self, queryset, name, value):
        return queryset.filter(profile_ids__overlap=person_profiles(holders_of(value)))


def _start_of(day):
    return timezone.make_aware(datetime.combine(day, time.min))
