"""The queue's filters (SPEC 8): one FilterSet for the page, its CSV export and its neighbours."""

import functools
from datetime import timedelta

import django_filters
from django import forms
from django.utils import timezone

from identity.candidates import blocking
from identity.models import DuplicateCandidate, IdentifierType

REASONS = [
    (blocking.UNIQUE_ID_CONFLICT, "Different unique IDs"),
    (blocking.ACCESS_CONTACT_MISMATCH, "Different access contacts"),
    (blocking.PREVIOUSLY_DISMISSED, "Previously dismissed"),
    (blocking.INACTIVE_PROFILE, "Profile already merged"),
    (blocking.MERGE_IN_PROGRESS, "Merge in progress"),
]
RULES = [
    ("shared_value", "Shared value"),
    ("collision", "Identity collision"),
    ("similar_people", "Similar people"),
]
# sort key -> (column, descending); ties are broken by id in the same direction.
SORTS = {
    "newest": ("created_at", True),
    "oldest": ("created_at", False),
    "score": ("score", True),
    "score_asc": ("score", False),
}
SORT_CHOICES = [
    ("newest", "Newest first"),
    ("oldest", "Oldest first"),
    ("score", "Highest score"),
    ("score_asc", "Lowest score"),
]
# age key -> (label, lookup on created_at, days ago)
AGES = {
    "day": ("Opened in the last 24 hours", "gte", 1),
    "week": ("Opened in the last 7 days", "gte", 7),
    "week_plus": ("Waiting more than 7 days", "lt", 7),
    "month_plus": ("Waiting more than 30 days", "lt", 30),
}
# A status is always chosen (the queue's indexes start with it); open and newest by default.
DEFAULTS = {"status": (DuplicateCandidate.Status.OPEN, DuplicateCandidate.Status.values),
            "sort": ("newest", list(SORTS))}


def _type_choices():
    return [(key, label) for key, label in IdentifierType.objects.values_list("key", "label")]


class CandidateFilterSet(django_filters.FilterSet):
    """Status defaults to open and sort to newest, also in place of a value not offered."""

    status = django_filters.ChoiceFilter(
        choices=DuplicateCandidate.Status.choices, empty_label=None,
    )
    blocked = django_filters.ChoiceFilter(
        label="Blocked", choices=[("yes", "Blocked"), ("no", "Not blocked")],
        method="filter_blocked", empty_label="Blocked or not",
    )
    reason = django_filters.ChoiceFilter(
        label="Blocking reason", choices=REASONS, method="filter_reason",
        empty_label="Any reason",
    )
    evidence = django_filters.ChoiceFilter(
        label="Evidence", choices=RULES, method="filter_evidence", empty_label="Any evidence",
    )
    type = django_filters.ChoiceFilter(
        label="Matched on", choices=_type_choices, method="filter_type",
        empty_label="Any type",
    )
    score_min = django_filters.NumberFilter(
        label="Score from", field_name="score", lookup_expr="gte",
        widget=forms.NumberInput(attrs={"step": "any", "placeholder": "min"}),
    )
    score_max = django_filters.NumberFilter(
        label="Score to", field_name="score", lookup_expr="lte",
        widget=forms.NumberInput(attrs={"step": "any", "placeholder": "max"}),
    )
    assignee = django_filters.ChoiceFilter(
        label="Assignee", choices=[("mine", "Claimed by me"), ("unassigned", "Unassigned")],
        method="filter_assignee", empty_label="Anyone",
    )
    age = django_filters.ChoiceFilter(
        label="Age", choices=[(key, label) for key, (label, *_) in AGES.items()],
        method="filter_age", empty_label="Any age",
    )
    sort = django_filters.ChoiceFilter(
        label="Sort", choices=SORT_CHOICES, method="filter_sort", empty_label=None,
    )

    class Meta:
        model = DuplicateCandidate
        fields = []

    def __init__(self, data=None, *args, user=None, **kwargs):
        data = data.copy() if data is not None else {}
        for name, (default, offered) in DEFAULTS.items():
            if data.get(name) not in offered:
                data[name] = default
        super().__init__(data, *args, **kwargs)
        # The identifier types, read when first needed, then once for validating and rendering.
        self.filters["type"].extra["choices"] = functools.cache(_type_choices)
        self.user = user

    @property
    def sort_key(self):
        return self.data["sort"]

    def filter_blocked(self, queryset, name, value):
        codes = [code for code, _ in REASONS]
        if value == "yes":
            return queryset.filter(blocking_codes__overlap=codes)
        return queryset.filter(blocking_codes=[])

    def filter_reason(self, queryset, name, value):
        return queryset.filter(blocking_codes__contains=[value])

    def filter_evidence(self, queryset, name, value):
        return queryset.filter(evidence__contains=[{"rule": value}])

    def filter_type(self, queryset, name, value):
        return queryset.filter(evidence__contains=[{"type": value}])

    def filter_assignee(self, queryset, name, value):
        if value == "mine":
            return queryset.filter(assignee_id=self.user.pk if self.user else None)
        return queryset.filter(assignee__isnull=True)

    def filter_age(self, queryset, name, value):
        _, lookup, days = AGES[value]
        return queryset.filter(**{f"created_at__{lookup}": timezone.now() - timedelta(days=days)})

    def filter_sort(self, queryset, name, value):
        column, descending = SORTS[value]
        prefix = "-" if descending else ""
        return queryset.order_by(f"{prefix}{column}", f"{prefix}id")
