from django.shortcuts import render

from identity.models import DuplicateCandidate
from profiles.models import Profile
from profiles.permissions import require_permission


@require_permission("identity.view_duplicatecandidate")
def dashboard(request):
    counts = {
        "active_profiles": Profile.objects.filter(status=Profile.Status.ACTIVE).count(),
        "open_candidates": DuplicateCandidate.objects.filter(
            status=DuplicateCandidate.Status.OPEN
        ).count(),
    }
    return render(request, "identity/dashboard.html", {"counts": counts, "nav": "dashboard"})


@require_permission("identity.view_duplicatecandidate")
def queue(request):
    return render(request, "coming.html", {"title": "Duplicate queue", "nav": "queue"})


@require_permission("identity.view_identifiertype")
def identifier_types(request):
    return render(request, "coming.html", {"title": "Identifier types", "nav": "settings"})
