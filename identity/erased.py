"""What the address of an erased profile, candidate or merge job shows: older audit entries
still link to them, and a steward following one learns what became of it. The erasure is the
audit history's (identity.hooks.erasure)."""

from django.http import Http404
from django.shortcuts import render

from identity import hooks

# Where each kind's page sits in the console: the menu item and the way back.
SECTIONS = {"profile": ("profiles", "profile_search", "Profiles"),
            "candidate": ("queue", "queue", "Queue"),
            "merge job": ("merges", "merge_list", "Merge jobs")}


def erased_or_not_found(request, kind, pk):
    """For an address whose object is not there: a 404 page saying who erased it, when and by
    which audit entry, or the plain 404 when no erasure removed it (it never was)."""
    erasure = hooks.erasure(kind, pk)
    if erasure is None:
        raise Http404
    nav, back, back_label = SECTIONS[kind]
    return render(request, "erased.html", {
        "kind": kind, "pk": pk, "erasure": erasure, "nav": nav, "back": back,
        "back_label": back_label,
    }, status=404)
