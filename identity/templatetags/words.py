"""Words, not codes (SPEC 8): what a steward reads for a blocking reason, an identifier type, a
permission or an evidence rule. The code itself may follow in small print
(`<small class="code">`)."""

from django import template
from django.apps import apps

from identity.candidates.filters import REASONS, RULES
from identity.matching.compare import LEVEL_WORDS
from identity.models import IdentifierType

register = template.Library()

REASON_LABELS = dict(REASONS)
RULE_LABELS = dict(RULES)
FIELD_WORDS = {"first_name": "first name", "last_name": "surname",
               "date_of_birth": "date of birth"}


@register.filter
def reason_label(code):
    """'unique_id_conflict' -> 'Different unique IDs'."""
    return REASON_LABELS.get(code, code)


@register.filter
def rule_label(code):
    """'shared_value' -> 'Shared value'."""
    return RULE_LABELS.get(code, code)


@register.filter
def field_label(name):
    """'date_of_birth' -> 'date of birth': an attribute or compared field."""
    return FIELD_WORDS.get(name, str(name).replace("_", " "))


@register.filter
def type_label(key):
    """An identifier type's label from its key ('loyalty_card' -> 'Loyalty card')."""
    return dict(IdentifierType.objects.values_list("key", "label")).get(key, key)


@register.filter
def permission_words(perm):
    """'merges.override_blocking_reason' -> '“Can merge a blocked group, acknowledging each
    reason”': the permission's name, from the models' definitions (no query)."""
    return f"“{_permission_name(perm)}”"


def _permission_name(perm):
    app_label, _, codename = perm.partition(".")
    try:
        models = apps.get_app_config(app_label).get_models()
    except LookupError:
        return perm
    for model in models:
        meta = model._meta
        for custom, name in meta.permissions:
            if custom == codename:
                return name
        for action in meta.default_permissions:
            if codename == f"{action}_{meta.model_name}":
                return f"Can {action} {meta.verbose_name_raw}"
    return perm


@register.filter
def and_list(items):
    """[1, 2, 3] -> '1, 2 and 3'."""
    words = [str(item) for item in items]
    if len(words) < 2:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


@register.filter
def level_label(level):
    """A field comparison's level (SPEC 4) in a steward's words."""
    return LEVEL_WORDS.get(level, level)


@register.filter
def lower_first(label):
    """'Different unique IDs' -> 'different unique IDs'; 'ID card' keeps its case."""
    label = str(label)
    return label if len(label) > 1 and label[1].isupper() else label[:1].lower() + label[1:]
