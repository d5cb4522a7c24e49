"""Pages of merges (SPEC 6, 8): confirming a merge, a merge job's live status, the job list."""

import csv
import dataclasses

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_safe
from django_htmx.http import HttpResponseStopPolling

from identity.candidates.blocking import OVERRIDE
from identity.erased import erased_or_not_found
from identity.models import DuplicateCandidate
from merges.audit import selectors as audit_selectors
from merges.audit.erasure import CannotErase, erase_person, person_of
from merges.audit.filters import AuditFilterSet
from merges.audit.links import with_links
from merges.filters import MergeJobFilterSet
from merges.models import AuditEntry, MergeJob
from merges.roles import describe_permission, require_permission
from merges.selectors import job_audit_entries, job_page, merge_plan
from merges.services import MergeRefused, request_merge
from profiles.models import Profile
from profiles.numbers import whole_number

CONFIRMATION_WORD = "MERGE"
PAGE_SIZE = 50


@require_permission("merges.view_mergejob")
def job_list(request):
    # A filter that is not valid is shown with its error; the valid ones still apply.
    filterset = MergeJobFilterSet(request.GET, queryset=MergeJob.objects.all())
    jobs = filterset.qs
    page = job_page(jobs, before=whole_number(request.GET.get("before", "")), size=PAGE_SIZE)
    return render(request, "merges/job_list.html", {
        "title": "Merge jobs", "nav": "merges", "filterset": filterset, "page": page,
        "filters": _without(request.GET, "before"),
    })


@require_permission("merges.view_mergejob")
def job_detail(request, pk):
    job = MergeJob.objects.select_related("requested_by", "candidate", "survivor").filter(
        pk=pk).first()
    if job is None:
        return erased_or_not_found(request, "merge job", pk)
    finished = job.status in (MergeJob.Status.SUCCEEDED, MergeJob.Status.FAILED)
    if request.htmx and not request.htmx.boosted:
        response = render(request, "merges/partials/job_status.html", {"job": job})
        # htmx stops polling on 286: the job has ended.
        return HttpResponseStopPolling(response.content) if finished else response
    return render(request, "merges/job_detail.html", {
        "title": f"Merge job {job.pk}", "nav": "merges", "job": job,
        "audit_entries": job_audit_entries(job),
    })


@require_permission("merges.add_mergejob")
def candidate_merge(request, pk):
    candidate = get_object_or_404(DuplicateCandidate, pk=pk)
    if candidate.status != DuplicateCandidate.Status.OPEN:
        messages.error(request, f"Candidate {candidate.pk} is {candidate.get_status_display()}: "
                                "only an open suspected duplicate can be merged.")
        return redirect("review", candidate.pk)
    ids = sorted(candidate.profiles.values_list("pk", flat=True))
    return _confirm(request, ids, candidate=candidate,
                    back=reverse("review", args=[candidate.pk]))


@require_permission("merges.add_mergejob")
def profiles_merge(request):
    """Any group of profiles a steward picks: /merges/new/?profiles=12,34,56."""
    raw = request.GET.get("profiles", "").replace(" ", "")
    ids = sorted({n for n in map(whole_number, raw.split(",")) if n is not None})
    if len(ids) < 2:
        messages.error(request, "Choose at least two profiles to merge: their ids, "
                                "separated by commas.")
        return redirect(reverse("profile_detail", args=[ids[0]]) if ids else "profile_search")
    return _confirm(request, ids, candidate=None,
                    back=reverse("profile_detail", args=[ids[0]]))


def _confirm(request, ids, *, candidate, back):
    """The confirmation page (GET), and the merge request it sends (POST)."""
    survivor = request.POST.get("survivor", "")
    plan = merge_plan(ids, survivor_id=whole_number(survivor))
    if len(plan.profiles) < 2:
        messages.error(request, "These profiles no longer exist.")
        return redirect(back)
    can_override = request.user.has_perm(OVERRIDE)
    errors = {}
    # A change of survivor re-renders the form in place (htmx); only the form's submit merges.
    if request.method == "POST" and not request.htmx:
        if request.POST.get("confirmation", "").strip() != CONFIRMATION_WORD:
            errors["confirmation"] = f"Type {CONFIRMATION_WORD} to confirm the merge."
        if not errors:
            try:
                job = request_merge(
                    profile_ids=ids, actor=request.user, survivor_id=plan.survivor_id,
                    field_choices={c.name: request.POST.get(f"field_{c.name}", c.default)
                                   for c in plan.attributes},
                    justifications={r.code: request.POST.get(f"justify_{r.code}", "")
                                    for r in plan.reasons},
                    candidate_id=candidate.pk if candidate else None,
                )
            except MergeRefused as refused:
                if refused.status == 403 and refused.code == "blocked":
                    raise PermissionDenied(
                        f"This needs the permission: {describe_permission(OVERRIDE)}."
                    ) from None
                errors[refused.field or "form"] = str(refused)
            else:
                return redirect("merge_detail", job.pk)
    return render(request, "merges/confirm.html", {
        "title": "Confirm the merge", "nav": "queue" if candidate else "profiles",
        "plan": plan, "candidate": candidate, "back": back, "errors": errors,
        "can_override": can_override, "word": CONFIRMATION_WORD,
        "reasons": [(r, request.POST.get(f"justify_{r.code}", "")) for r in plan.reasons],
        "others": [p for p in plan.profiles if p.profile.pk != plan.survivor_id],
    }, status=400 if errors else 200)


def _without(query, *names):
    query = query.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


# -- the audit history (SPEC 7): read by viewers, changed by nobody ----------------------------

AUDIT_PAGE_SIZES = (25, 50, 100)
ERASE_WORD = "ERASE"


@require_permission("merges.view_auditentry")
@require_safe
def audit_list(request):
    filterset = AuditFilterSet(request.GET, queryset=audit_selectors.audit_list())
    size = _audit_page_size(request.GET)
    page = audit_selectors.audit_page(
        filterset.qs, before=_cursor(request.GET, "before"), after=_cursor(request.GET, "after"),
        size=size,
    )
    filters = _without(request.GET, "before", "after")
    page.rows = with_links(page.rows, query=filters)
    context = {
        "title": "Audit history", "nav": "audit", "filterset": filterset, "page": page,
        "filters": filters, "sizes": AUDIT_PAGE_SIZES,
        "size": size,
    }
    if request.htmx and not request.htmx.boosted and not request.htmx.history_restore_request:
        return render(request, "merges/partials/audit_results.html", context)
    return render(request, "merges/audit_list.html", context)


@require_permission("merges.view_auditentry")
@require_safe
def audit_export(request):
    """The filtered history as CSV, streamed a page at a time, newest first."""
    filterset = AuditFilterSet(request.GET, queryset=audit_selectors.audit_list())
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in audit_selectors.export_rows(filterset.qs)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = 'attachment; filename="audit-history.csv"'
    return response


@require_permission("merges.view_auditentry")
@require_safe
def audit_detail(request, pk):
    entry = get_object_or_404(
        AuditEntry.objects.select_related("payload", "actor"), pk=pk
    )
    detail = audit_selectors.entry_detail(entry)
    detail = dataclasses.replace(detail, row=with_links([detail.row])[0])
    return render(request, "merges/audit_detail.html", {
        "title": f"Audit entry {entry.pk}", "nav": "audit", "detail": detail,
        "back": f"{reverse('audit_list')}?{_without(request.GET)}" if request.GET else None,
    })


@require_permission("merges.erase_person")
def profile_erase(request, pk):
    """Right to erasure from the profile page: confirmed by typing the word shown."""
    profile = get_object_or_404(Profile, pk=pk)
    errors = {}
    if request.method == "POST":
        if request.POST.get("confirmation", "").strip() != ERASE_WORD:
            errors["confirmation"] = f"Type {ERASE_WORD} to erase this person."
        else:
            try:
                erasure = erase_person(profile_id=profile.pk, reason=request.POST.get("reason"),
                                       actor=request.user)
            except CannotErase as error:
                errors["reason"] = f"Nothing erased: {error}."
            else:
                removed = ", ".join(f"{n} {what}" for what, n in erasure.removed.items())
                messages.success(request, f"Person erased. Removed: {removed}.")
                return redirect("audit_detail", erasure.entry_id)
    return render(request, "merges/audit_erase.html", {
        "title": f"Erase the person of profile {profile.pk}", "nav": "profiles",
        "profile": profile, "person": person_of(profile.pk), "word": ERASE_WORD,
        "errors": errors, "reason": request.POST.get("reason", ""),
    }, status=400 if errors else 200)


class _Echo:
    def write(self, value):
        return value


def _audit_page_size(data):
    size = whole_number(data.get("size", ""))
    return size if size in AUDIT_PAGE_SIZES else 50


def _cursor(data, name):
    return whole_number(data.get(name, ""))
