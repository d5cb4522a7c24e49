"""Profile search and the profile page (SPEC 8: /profiles/, /profiles/<id>/)."""

from django.contrib import messages
from django.shortcuts import redirect, render

from identity.erased import erased_or_not_found
from identity.profiles import profile_page, profile_search, survivor_of
from merges.audit.links import with_links
from merges.audit.selectors import profile_timeline
from merges.roles import require_permission
from profiles.models import Profile


@require_permission("profiles.view_profile")
def search(request):
    query = request.GET.get("q", "")
    context = {"query": query, "results": profile_search(query), "nav": "profiles"}
    if request.htmx and not request.htmx.boosted and not request.htmx.history_restore_request:
        return render(request, "profiles/partials/results.html", context)
    return render(request, "profiles/search.html", context)


@require_permission("profiles.view_profile")
def detail(request, pk):
    """A merged id lands on its survivor, with a notice saying so; an erased one says when and
    by whom it was erased (older audit entries still link to it)."""
    profile = Profile.objects.filter(pk=pk).first()
    if profile is None:
        return erased_or_not_found(request, "profile", pk)
    if profile.status == Profile.Status.MERGED:
        survivor = survivor_of(profile)
        messages.info(
            request, f"Profile {profile.pk} was merged into profile {survivor.pk}: "
                     f"showing the survivor."
        )
        return redirect("profile_detail", survivor.pk)
    return render(request, "profiles/detail.html", {
        "page": profile_page(profile), "user_perms": request.user.get_all_permissions(),
        "nav": "profiles", "timeline": with_links(profile_timeline(profile.pk)),
    })
