from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from identity.models import DuplicateCandidate
from merges.roles import require_permission


@require_permission("merges.view_mergejob")
def job_list(request):
    return render(request, "coming.html", {"title": "Merge jobs", "nav": "merges"})


@require_permission("merges.view_auditentry")
def audit_list(request):
    return render(request, "coming.html", {"title": "Audit history", "nav": "audit"})


@require_permission("merges.add_mergejob")
def merge(request, pk):
    candidate = get_object_or_404(DuplicateCandidate, pk=pk)
    return render(request, "coming.html", {
        "title": f"Merge suspected duplicate #{candidate.pk}", "nav": "queue",
        "back": reverse("review", args=[candidate.pk]),
    })
