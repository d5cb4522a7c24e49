from django.shortcuts import render

from profiles.permissions import require_permission


@require_permission("profiles.view_profile")
def search(request):
    return render(request, "coming.html", {"title": "Profiles", "nav": "profiles"})
