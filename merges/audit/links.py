"""Links of the audit pages' rows: each kind's URL reversed once a page, not once a row (a page
of 100 entries names hundreds of profiles and candidates)."""

import dataclasses

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from identity.models import IdentifierType

# Targets that have a page, by their key in an entry's targets.
AUDIT_LINKS = {
    "profile": "profile_detail", "survivor": "profile_detail", "merged": "profile_detail",
    "held_by": "profile_detail", "candidate": "review", "merge_job": "merge_detail",
}
TYPE_KEYS = ("identifier_type", "type")
_PLACEHOLDER = 987654321


def _pattern(name):
    return reverse(name, args=[_PLACEHOLDER]).replace(str(_PLACEHOLDER), "{}")


def with_links(rows, *, query=""):
    """Rows with the pages of their entries (`query`: the list's filters, for the way back) and
    of their targets."""
    patterns = {key: _pattern(name) for key, name in AUDIT_LINKS.items()}
    named_types = any(t.key in TYPE_KEYS for row in rows for t in row.targets)
    labels = dict(IdentifierType.objects.values_list("key", "label")) if named_types else {}
    entry_url = _pattern("audit_detail")
    suffix = f"?{query}" if query else ""
    linked = []
    for row in rows:
        targets = tuple(
            dataclasses.replace(t, url=patterns[t.key].format(t.value))
            if t.key in patterns and isinstance(t.value, int) else t
            for t in row.targets
        )
        linked.append(dataclasses.replace(
            row, url=entry_url.format(row.entry.pk) + suffix, targets=targets,
            targets_html=targets_html(targets, labels),
        ))
    return linked


def targets_html(targets, labels):
    """"profile <a>34</a>, candidate <a>12</a>": built here rather than by a template loop, which
    costs a page of 100 entries tens of milliseconds."""
    if not targets:
        return mark_safe('<span class="muted">—</span>')
    return format_html_join(", ", "{}", ((_target(t, labels),) for t in targets))


def _target(target, labels):
    if target.url:
        return format_html('<span class="target">{} <a href="{}">{}</a></span>', target.noun,
                           target.url, target.value)
    if target.key in TYPE_KEYS:
        # A type by its label, its key in small print (SPEC 8).
        return format_html('<span class="target">{} {} <small class="code">{}</small></span>',
                           target.noun, labels.get(target.value, target.value), target.value)
    return format_html('<span class="target">{} {}</span>', target.noun, target.value)
