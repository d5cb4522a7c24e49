import pytest
from django.contrib.auth.models import Group

from merges import roles


@pytest.mark.django_db
def test_the_four_roles_exist_and_each_may_do_what_the_one_before_may():
    def perms(name):
        return {
            f"{p.content_type.app_label}.{p.codename}"
            for p in Group.objects.get(name=name).permissions.select_related("content_type")
        }

    viewer, steward, senior, admin = (perms(name) for name in roles.ROLES)

    assert "profiles.view_profile" in viewer
    assert viewer < steward < senior < admin
    assert {"identity.dismiss_candidate", "identity.claim_candidate", "merges.add_mergejob"} <= (
        steward - viewer
    )
    assert {"merges.override_blocking_reason", "identity.change_identifiertype"} <= (
        senior - steward
    )
    assert "auth.change_user" in admin - senior


@pytest.mark.django_db
def test_a_steward_may_dismiss_but_not_override_a_blocking_reason(steward):
    assert steward.has_perm("identity.dismiss_candidate")
    assert not steward.has_perm("merges.override_blocking_reason")


@pytest.mark.django_db
def test_a_viewer_may_read_but_not_dismiss(viewer):
    assert viewer.has_perm("identity.view_duplicatecandidate")
    assert not viewer.has_perm("identity.dismiss_candidate")
