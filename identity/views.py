"""The steward's console (SPEC 8): dashboard, queue, side-by-side review and their actions.

Each view checks its permission, parses input, calls one selector or service and renders a page,
or its htmx partial when htmx asks for a region (not for a boosted link).
"""

import csv

from django.contrib import messages
from django.http import QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

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
)
from identity.matching.rules import CONFIG
from identity.models import DuplicateCandidate, Identifier
from identity.writing.edits import CannotChangeIdentifier, edit_identifier, remove_identifier
from merges.roles import require_permission

PAGE_SIZES = (25, 50, 100)
PAGING = ("after", "before")


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
        "how": CONFIG.describe(),
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
    candidate = get_object_or_404(
        DuplicateCandidate.objects.select_related("assignee", "dismissed_by"), pk=pk
    )
    filterset = _filterset(request.GET, request.user)
    previous_id, next_id = candidate_neighbours(filterset.qs, candidate, sort=filterset.sort_key)
    filters = _filters(request.GET)
    queue_url = f"{reverse('queue')}?{filters}"
    context = {
        "review": candidate_review(candidate),
        "previous_id": previous_id,
        "next_id": next_id,
        "filters": filters,
        "queue_url": queue_url,
        "after_dismiss": (
            f"{reverse('review', args=[next_id])}?{filters}" if next_id else queue_url
        ),
        "user_perms": request.user.get_all_permissions(),
        "nav": "queue",
    }
    return render(request, "identity/review.html", context)


@require_permission("identity.claim_candidate")
@require_POST
def claim(request, pk):
    return _claim_action(request, pk, claim_candidate, "You claimed suspected duplicate #{}.")


@require_permission("identity.claim_candidate")
@require_POST
def unclaim(request, pk):
    return _claim_action(request, pk, unclaim_candidate, "Suspected duplicate #{} is unassigned.")


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
    messages.success(request, f"Suspected duplicate #{pk} dismissed: not a duplicate.")
    return redirect(_next_url(request, reverse("queue")))


@require_permission("identity.dismiss_candidate")
@require_POST
def dismiss_many(request):
    """Bulk "not a duplicate" from the queue; back to the same filtered list."""
    ids = [value for value in request.POST.getlist("candidate") if value.isdigit()]
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
                                  f"#{identifier.profile_id} changed.")
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
                                  f"profile #{identifier.profile_id}.")
    return redirect(_next_url(request, reverse("profile_detail", args=[identifier.profile_id])))


@require_permission("identity.view_identifiertype")
def identifier_types(request):
    return render(request, "coming.html", {"title": "Identifier types", "nav": "settings"})


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
    size = data.get("size", "")
    return int(size) if size.isdigit() and int(size) in PAGE_SIZES else 50


def _filters(data):
    """The query string of the filters, without the page's cursor."""
    kept = data.copy()
    for name in PAGING:
        kept.pop(name, None)
    return kept.urlencode()


def _next_url(request, default, *, field="next"):
    url = request.POST.get(field) or ""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return default
