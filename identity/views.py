"""The steward's console (SPEC 8): dashboard, queue, side-by-side review and their actions.

Each view checks its permission, parses input, calls one selector or service and renders a page,
or its htmx partial when htmx asks for a region (not for a boosted link).
"""

import csv
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.contrib import messages
from django.http import QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from identity import hooks
from identity.candidates.filters import CandidateFilterSet
from identity.candidates.lifecycle import (
    CannotClaim,
    CannotDismiss,
    claim_candidate,
    dismiss_candidate,
    dismiss_candidates,
    unclaim_candidate,
)
from identity.candidates.selectors import (
    candidate_export_rows,
    candidate_neighbours,
    candidate_queue,
    candidate_review,
    candidate_rows,
    dashboard_figures,
    queue_page,
    side_by_side,
)
from identity.erased import erased_or_not_found
from identity.forms import AddIdentifierTypeForm, IdentifierTypeForm
from identity.matching import compare
from identity.matching.learning import how_suggestions_are_made
from identity.models import DuplicateCandidate, Identifier, IdentifierType, IdentifierTypeJob
from identity.profiles import profile_search
from identity.types import impact as type_impact
from identity.types.labels import FIELD_LABELS, FLAGS, reason_label
from identity.types.selectors import type_counts, type_jobs, type_rows
from identity.types.services import add_identifier_type, change_identifier_type
from identity.writing.edits import CannotChangeIdentifier, edit_identifier, remove_identifier
from merges.roles import require_permission
from profiles.models import Profile
from profiles.numbers import whole_number

PAGE_SIZES = (25, 50, 100)
PAGING = ("after", "before")
# Query parameters that are no filter: the paging cursors, and the candidate just dismissed.
NOT_FILTERS = (*PAGING, "dismissed")


def _partial(request):
    """htmx asks for a region: not for a boosted link, nor to restore a page from history."""
    return bool(
        request.htmx and not request.htmx.boosted and not request.htmx.history_restore_request
    )


@require_permission("identity.view_duplicatecandidate")
def dashboard(request):
    return render(request, "identity/dashboard.html", {**dashboard_figures(), "nav": "dashboard"})


@require_permission("identity.view_duplicatecandidate")
def queue(request):
    filterset = _filterset(request.GET, request.user)
    page = queue_page(
        filterset.qs, sort=filterset.sort_key, after=request.GET.get("after"),
        before=request.GET.get("before"), size=_page_size(request.GET),
    )
    context = {
        "filterset": filterset,
        "page": page,
        "rows": candidate_rows(page.candidates),
        "filters": _filters(request.GET),
        "how": how_suggestions_are_made(),
        "sizes": PAGE_SIZES,
        "size": _page_size(request.GET),
        "nav": "queue",
        **_row_context(request, request.get_full_path()),
    }
    if _partial(request):
        return render(request, "identity/partials/queue_results.html", context)
    return render(request, "identity/queue.html", context)


@require_permission("identity.view_duplicatecandidate")
def queue_export(request):
    """The filtered queue as CSV, streamed a page at a time."""
    filterset = _filterset(request.GET, request.user)
    writer = csv.writer(_Echo())
    rows = candidate_export_rows(filterset.qs, sort=filterset.sort_key)
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="suspected-duplicates.csv"'
    return response


class _Echo:
    def write(self, value):
        return value


@require_permission("identity.view_duplicatecandidate")
def review(request, pk):
    candidate = DuplicateCandidate.objects.select_related("assignee", "dismissed_by").filter(
        pk=pk).first()
    if candidate is None:
        return erased_or_not_found(request, "candidate", pk)
    filterset = _filterset(request.GET, request.user)
    previous_id, next_id = candidate_neighbours(filterset.qs, candidate, sort=filterset.sort_key)
    filters = _filters(request.GET)
    queue_url = f"{reverse('queue')}?{filters}"
    context = {
        "review": candidate_review(candidate),
        "merge": hooks.merge_job(candidate.merge_job_id) if candidate.merge_job_id else None,
        "previous_id": previous_id,
        "next_id": next_id,
        "filters": filters,
        "queue_url": queue_url,
        # Not the next page's own address: that one is rendered ahead (speculation rules),
        # before the dismissal and its message, and the redirect would show it as it was.
        "after_dismiss": (
            f"{reverse('review', args=[next_id])}?{_with(filters, dismissed=pk)}"
            if next_id else queue_url
        ),
        "user_perms": request.user.get_all_permissions(),
        "nav": "queue",
    }
    response = render(request, "identity/review.html", context)
    if request.headers.get("Sec-Purpose", "").startswith("prefetch"):
        # Rendered ahead for "next" (speculation rules), perhaps while an action's message
        # waits for the page its redirect opens: that page shows it, not this one.
        messages.get_messages(request).used = False
    return response


@require_permission("identity.claim_candidate")
@require_POST
def claim(request, pk):
    return _claim_action(request, pk, claim_candidate, "You claimed candidate {}.")


@require_permission("identity.claim_candidate")
@require_POST
def unclaim(request, pk):
    return _claim_action(request, pk, unclaim_candidate, "Candidate {} is unassigned.")


def _claim_action(request, pk, service, done):
    """From a queue row (htmx) the row comes back, showing who has it now; else a redirect."""
    candidate = get_object_or_404(DuplicateCandidate, pk=pk)
    try:
        service(candidate=candidate, actor=request.user)
        outcome = (messages.SUCCESS, done.format(pk))
    except CannotClaim as error:
        outcome = (messages.ERROR, f"Not changed: {error}.")
    next_url = _next_url(request, reverse("review", args=[pk]))
    if _partial(request):
        candidate = DuplicateCandidate.objects.select_related("assignee").get(pk=pk)
        return render(request, "identity/partials/queue_row.html", {
            "row": candidate_rows([candidate])[0],
            "filters": _filters(QueryDict(next_url.partition("?")[2])),
            **_row_context(request, next_url),
        })
    messages.add_message(request, *outcome)
    return redirect(next_url)


@require_permission("identity.dismiss_candidate")
@require_POST
def dismiss(request, pk):
    candidate = get_object_or_404(DuplicateCandidate, pk=pk)
    try:
        dismiss_candidate(candidate=candidate, reason=request.POST.get("reason"),
                          actor=request.user)
    except CannotDismiss as error:
        messages.error(request, f"Not dismissed: {error}.")
        return redirect(_next_url(request, reverse("review", args=[pk]), field="back"))
    messages.success(request, f"Candidate {pk} dismissed: not a duplicate.")
    return redirect(_next_url(request, reverse("queue")))


@require_permission("identity.dismiss_candidate")
@require_POST
def dismiss_many(request):
    """Bulk "not a duplicate" from the queue; back to the same filtered list."""
    ids = [n for n in map(whole_number, request.POST.getlist("candidate")) if n is not None]
    try:
        dismissed, skipped = dismiss_candidates(
            candidate_ids=ids, reason=request.POST.get("reason"), actor=request.user
        )
    except CannotDismiss as error:
        messages.error(request, f"Nothing dismissed: {error}.")
    else:
        text = f"{len(dismissed)} suspected duplicate(s) dismissed: not a duplicate."
        if skipped:
            text += f" {len(skipped)} skipped: no longer open."
        messages.success(request, text)
    return redirect(_next_url(request, reverse("queue")))


@require_permission("identity.change_identifier")
@require_POST
def identifier_edit(request, pk):
    identifier = get_object_or_404(Identifier.objects.select_related("type"), pk=pk)
    try:
        edit_identifier(
            identifier=identifier, raw_value=request.POST.get("raw_value", ""),
            grants_access=request.POST.get("grants_access") == "on",
            reason=request.POST.get("reason"), actor=request.user,
        )
    except CannotChangeIdentifier as error:
        messages.error(request, f"{identifier.type.label} not changed: {error}.")
    else:
        messages.success(request, f"{identifier.type.label} of profile "
                                  f"{identifier.profile_id} changed.")
    return redirect(_next_url(request, reverse("profile_detail", args=[identifier.profile_id])))


@require_permission("identity.delete_identifier")
@require_POST
def identifier_remove(request, pk):
    identifier = get_object_or_404(Identifier.objects.select_related("type"), pk=pk)
    try:
        remove_identifier(identifier=identifier, reason=request.POST.get("reason"),
                          actor=request.user)
    except CannotChangeIdentifier as error:
        messages.error(request, f"{identifier.type.label} not removed: {error}.")
    else:
        messages.success(request, f"{identifier.type.label} {identifier.value} removed from "
                                  f"profile {identifier.profile_id}.")
    return redirect(_next_url(request, reverse("profile_detail", args=[identifier.profile_id])))


@require_permission("identity.view_identifiertype")
def identifier_types(request):
    """Every identifier type with its settings and use (SPEC 8a); readable by every role."""
    return render(request, "identity/identifier_types.html", {
        "rows": type_rows(),
        "counted_at": type_counts()["at"],
        "flags": FLAGS,
        "can_change": request.user.has_perm("identity.change_identifiertype"),
        "can_add": request.user.has_perm("identity.add_identifiertype"),
        "nav": "settings",
    })


@require_permission("identity.change_identifiertype")
def identifier_type_edit(request, key):
    """Edit a type: the impact preview updates as flags are toggled (htmx posts the form to
    identifier_type_preview); saving needs a reason. Without JavaScript, "Preview" posts here."""
    type_ = get_object_or_404(IdentifierType, key=key)
    status, preview = 200, None
    if request.method == "POST":
        form = IdentifierTypeForm(request.POST)
        if form.is_valid() and "preview" in request.POST:
            preview = _preview(type_, form)
        elif form.is_valid():
            try:
                _, jobs = change_identifier_type(
                    identifier_type=type_, changes=form.changes(),
                    reason=form.cleaned_data["reason"], actor=request.user,
                )
            except type_impact.InvalidChange as invalid:
                form.add_error(invalid.field if invalid.field in form.fields else None,
                               invalid.message)
            except type_impact.ChangeRefused as refused:
                preview, status = {"refusal": refused.refusal}, 409
            else:
                text = f"{type_.label} saved."
                if jobs:
                    text += " The work it leaves runs in the background: progress below."
                messages.success(request, text)
                return redirect("identifier_type_edit", key=type_.key)
    else:
        form = IdentifierTypeForm(initial=_settings(type_))
    return render(request, "identity/identifier_type_edit.html", {
        "type": type_, "form": form, "preview": preview, "jobs": type_jobs(type_),
        "nav": "settings",
    }, status=status)


@require_permission("identity.change_identifiertype")
@require_POST
def identifier_type_preview(request, key):
    """The impact preview of the edit form as it stands, for htmx to swap in place."""
    type_ = get_object_or_404(IdentifierType, key=key)
    form = IdentifierTypeForm(request.POST)
    preview = _preview(type_, form) if form.is_valid() else {"invalid": form.errors}
    return render(request, "identity/partials/type_preview.html",
                  {"type": type_, "preview": preview})


def _preview(type_, form):
    """What the preview partial shows: the Impact, a Refusal, or an input error."""
    try:
        found = type_impact.preview(type_, form.changes())
    except type_impact.InvalidChange as invalid:
        return {"invalid": {invalid.field: [invalid.message]}}
    except type_impact.ChangeRefused as refused:
        return {"refusal": refused.refusal}
    return {"impact": found, "rows": _impact_rows(found)}


def _impact_rows(found):
    """The impact's counts by reason, as sentences' parts: (label, code, count)."""
    def rows(counts):
        return [(reason_label(code), code, n) for code, n in sorted(counts.items())]

    return {
        "changes": [(FIELD_LABELS.get(name, name), _shown(name, old), _shown(name, new))
                    for name, (old, new) in found.changes.items()],
        "blocked": rows(found.become_blocked),
        "unblocked": rows(found.become_unblocked),
        "added": rows(found.reasons_added),
        "removed": rows(found.reasons_removed),
    }


def _shown(name, value):
    if isinstance(value, bool):
        return "on" if value else "off"
    if name == "normaliser":
        return IdentifierType.Normaliser(value).label
    return value


def _settings(type_):
    return {name: getattr(type_, name) for name in type_impact.EDITABLE}


@require_permission("identity.add_identifiertype")
def identifier_type_add(request):
    if request.method == "POST":
        form = AddIdentifierTypeForm(request.POST)
        if form.is_valid():
            try:
                type_ = add_identifier_type(
                    values={"key": form.cleaned_data["key"], **form.changes()},
                    reason=form.cleaned_data["reason"], actor=request.user,
                )
            except type_impact.InvalidChange as invalid:
                form.add_error(invalid.field if invalid.field in form.fields else None,
                               invalid.message)
            except type_impact.ChangeRefused as refused:
                form.add_error(refused.refusal.field, refused.refusal.message)
            else:
                messages.success(request, f"Identifier type {type_.label} added: writes "
                                          f"carrying {type_.key} now give it as an identifier.")
                return redirect("identifier_types")
    else:
        form = AddIdentifierTypeForm(initial=_settings(IdentifierType(priority=10)))
    return render(request, "identity/identifier_type_add.html",
                  {"form": form, "nav": "settings"})


@require_permission("identity.view_identifiertype")
def identifier_type_job(request, pk):
    """A type job's progress; htmx polls it until it finishes (286 stops the polling)."""
    job = get_object_or_404(IdentifierTypeJob.objects.select_related("identifier_type"), pk=pk)
    response = render(request, "identity/partials/type_job.html", {"job": job})
    if job.finished and _partial(request):
        response.status_code = 286
    return response


def _row_context(request, next_url):
    """What every queue row needs, found once a page rather than once a row."""
    return {
        "can_dismiss": request.user.has_perm("identity.dismiss_candidate"),
        "can_claim": request.user.has_perm("identity.claim_candidate"),
        "next_url": next_url,
    }


def _filterset(data, user):
    return CandidateFilterSet(data, queryset=candidate_queue(), user=user)


def _page_size(data):
    size = whole_number(data.get("size", ""))
    return size if size in PAGE_SIZES else 50


def _filters(data):
    """The query string of the filters, without the page's cursor."""
    kept = data.copy()
    for name in NOT_FILTERS:
        kept.pop(name, None)
    return kept.urlencode()


def _with(query, **extra):
    """The query string `query` with `extra` parameters added."""
    return "&".join(part for part in (query, urlencode(extra)) if part)


def _next_url(request, default, *, field="next"):
    url = request.POST.get(field) or ""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return default


# -- "why not?" (SPEC 8: /compare/) -----------------------------------------------------------

PROFILE_ID = re.compile(r"(?:profile\s*)?#?\s*(\d{1,18})", re.IGNORECASE)
SUGGESTIONS = 8


@dataclass
class _Side:
    """What a steward typed in one box of the compare form, and the profile it found."""

    text: str
    profile: Profile | None = None  # the active profile the text found
    requested: int | None = None  # the merged profile's id typed, when it landed on a survivor
    choices: list = field(default_factory=list)  # SearchResults, when several profiles match
    error: str = ""


def _side(text):
    text = text.strip()
    if not text:
        return _Side(text)
    number = PROFILE_ID.fullmatch(text)
    if number:
        pk = int(number[1])
        profile = compare.landing(pk)
        if profile is None:
            return _Side(text, error=f"There is no profile {pk}.")
        return _Side(text, profile, requested=pk if profile.pk != pk else None)
    found = [r for r in profile_search(text) if r.profile.status == Profile.Status.ACTIVE]
    if len(found) == 1:
        return _Side(text, found[0].profile)
    if not found:
        return _Side(text, error=f"No active profile matches “{text}”.")
    return _Side(text, choices=found[:SUGGESTIONS])


@require_permission("profiles.view_profile")
def compare_profiles(request):
    """Any two profiles side by side with what detection says of the pair (the same
    statements detection runs, identity.matching.compare), and what would block merging them."""
    a, b = _side(request.GET.get("a", "")), _side(request.GET.get("b", ""))
    context = {"a": a, "b": b, "nav": "profiles", "user_perms": request.user.get_all_permissions()}
    if a.profile and b.profile and a.profile.pk == b.profile.pk:
        context["same"] = True
    elif a.profile and b.profile:
        answer = compare.why_not(a.profile.pk, b.profile.pk)
        context.update(
            answer=answer,
            review=side_by_side([a.profile.pk, b.profile.pk], answer.reasons),
            merge_url=f"{reverse('profiles_merge')}?profiles={a.profile.pk},{b.profile.pk}",
            how=how_suggestions_are_made(),
        )
    return render(request, "identity/compare.html", context)


@require_permission("profiles.view_profile")
def compare_suggestions(request):
    """Search as you type in a box of the compare form: the profiles matching what is typed,
    each a link to the comparison with the other box's profile."""
    side = "a" if request.GET.get("side") == "a" else "b"
    other = request.GET.get("other", "")
    text = request.GET.get(side, "").strip()
    results = [
        r for r in profile_search(text) if r.profile.status == Profile.Status.ACTIVE
        and str(r.profile.pk) != other
    ][:SUGGESTIONS] if len(text) >= 2 or text.isdigit() else []
    links = [
        (result, f"{reverse('compare')}?"
                 + urlencode({side: result.profile.pk, ("b" if side == "a" else "a"): other}))
        for result in results
    ]
    return render(request, "identity/partials/compare_suggestions.html",
                  {"links": links, "text": text})
