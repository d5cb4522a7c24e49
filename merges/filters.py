"""The merge job list's filters (SPEC 8: /merges/): status, who asked, since when, a profile."""

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q

from merges.models import MergeJob
from profiles.numbers import LARGEST_ID


class ProfileIdFilter(django_filters.NumberFilter):
    """A profile id: a whole number from 1 to the largest id PostgreSQL stores, or an error
    naming the field (not a 500 from the database)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        super().__init__(*args, min_value=1, max_value=LARGEST_ID, error_messages={
            "invalid": "A profile id is a whole number.",
            "min_value": "Profile ids start at 1.",
            "max_value": "No profile has an id this large.",
        }, **kwargs)


class MergeJobFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=MergeJob.Status.choices, label="Status")
    requested_by = django_filters.ModelChoiceFilter(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        label="Requested by", empty_label="anyone",
    )
    since = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__gte", label="Requested since",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    profile = ProfileIdFilter(method="filter_profile", label="Profile id")

    class Meta:
        model = MergeJob
        fields = ["status", "requested_by", "since", "profile"]

    def filter_profile(self, queryset, name, value):
        """Jobs whose survivor or merged profiles include this one."""
        return queryset.filter(
            Q(survivor_id=value) | Q(merged_profile_ids__contains=[value])
        )
