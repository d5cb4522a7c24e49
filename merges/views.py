from django.shortcuts import render

from profiles.permissions import require_permission


@require_permission("merges.view_mergejob")
def job_list(request):
    return render(request, "coming.html", {"title": "Merge jobs", "nav": "merges"})


@require_permission("merges.view_auditentry")
def audit_list(request):
    return render(request, "coming.html", {"title": "Audit history", "nav": "audit"})
