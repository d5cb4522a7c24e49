import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory

from identity.models import DuplicateCandidate, Identifier, IdentityConflict, JunkValue
from profiles.models import Profile, ProfileEvent


def login_request():
    """Login throttling (django-axes) needs the request a password comes with."""
    return RequestFactory().post("/accounts/login/")


@pytest.mark.django_db
def test_seed_demo_creates_a_user_per_role_with_the_printed_password(capsys):
    call_command("seed_demo")
    printed = capsys.readouterr().out
    password = printed.rsplit("Password: ", 1)[1].strip()

    steward = authenticate(login_request(), username="steward", password=password)
    admin = authenticate(login_request(), username="admin", password=password)
    viewer = authenticate(login_request(), username="viewer", password=password)
    assert steward.has_perm("identity.dismiss_candidate")
    assert not steward.has_perm("merges.override_blocking_reason")
    assert authenticate(login_request(), username="senior", password=password).has_perm(
        "merges.override_blocking_reason"
    )
    assert admin.is_superuser and admin.is_staff
    assert not viewer.has_perm("identity.dismiss_candidate")


@pytest.mark.django_db
def test_seed_demo_twice_keeps_one_user_per_role(capsys):
    call_command("seed_demo", password="first-password-1")
    call_command("seed_demo", password="second-password-2")

    request = login_request()
    assert authenticate(request, username="steward", password="second-password-2") is not None
    assert authenticate(request, username="steward", password="first-password-1") is None


@pytest.mark.django_db
def test_seed_demo_writes_the_stories_through_resolution_and_twice_changes_nothing(capsys):
    call_command("seed_demo", profiles=30)
    counts = (Profile.objects.count(), Identifier.objects.count(),
              DuplicateCandidate.objects.count(), ProfileEvent.objects.count())

    call_command("seed_demo", profiles=30)

    assert (Profile.objects.count(), Identifier.objects.count(),
            DuplicateCandidate.objects.count(), ProfileEvent.objects.count()) == counts
    # The id-only and email-only Jane, linked later, wait in the queue.
    jane = DuplicateCandidate.objects.get(evidence__0__value="jane.doe@example.com")
    assert jane.profiles.count() == 2
    assert DuplicateCandidate.objects.get(evidence__0__type="anonymous_id").auto_merge
    assert IdentityConflict.objects.filter(kind="conflict", value="C-2005").exists()
    assert Identifier.objects.filter(value="+12125550142").count() == 2  # the household phone
    # Detection ran: the household is a candidate, Jon and John Smithson are similar people,
    # the till's phone is junk.
    rules = {e["rule"] for c in DuplicateCandidate.objects.filter(status="open")
             for e in c.evidence}
    assert rules >= {"collision", "shared_value", "similar_people"}
    assert JunkValue.objects.filter(value="+12125550100").exists()
