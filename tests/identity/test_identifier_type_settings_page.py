"""/settings/identifier-types/: every role reads the types; senior stewards change them after an
impact preview, with a reason that goes to the audit history; admins add types."""

import pytest

from identity.models import IdentifierType, IdentifierTypeJob
from identity.types.selectors import forget_type_counts
from merges.models import AuditEntry
from tests.factories import write
from tests.identity.conftest import detect

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counts():
    """The page's counts are cached for minutes: each test counts its own data."""
    forget_type_counts()


def settings_of(key, **changes):
    """The edit form as the page fills it, with `changes`."""
    type_ = IdentifierType.objects.get(key=key)
    data = {"label": type_.label, "normaliser": type_.normaliser, "priority": type_.priority}
    for flag in ("unique", "single_valued", "do_not_merge", "can_grant_access", "matchable",
                 "auto_merge"):
        if changes.get(flag, getattr(type_, flag)):
            data[flag] = "on"
    data.update({k: v for k, v in changes.items() if not isinstance(v, bool)})
    return data


def test_every_role_reads_the_types_with_their_settings_and_use(client, viewer):
    write({"email": "ann@example.com", "phone": "(212) 555-0101"}, "email")
    write({"email": "bob@example.com", "phone": "212 555 0101"}, "email")
    client.force_login(viewer)

    response = client.get("/settings/identifier-types/")

    assert response.status_code == 200
    rows = {row.type.key: row for row in response.context["rows"]}
    assert list(rows) == ["customer_id", "email", "external_id", "loyalty_card", "phone",
                          "anonymous_id"]
    assert (rows["phone"].identifiers, rows["phone"].profiles) == (2, 2)
    page = response.content.decode()
    assert "Do not merge" in page and "phone (E.164)" in page and "Loyalty card" in page
    assert 'href="/settings/identifier-types/phone/"' not in page  # no edit link for a viewer


def test_a_steward_gets_a_403_naming_the_permission_on_the_edit_page(client, steward):
    client.force_login(steward)

    response = client.get("/settings/identifier-types/loyalty_card/")
    posted = client.post("/settings/identifier-types/loyalty_card/",
                         settings_of("loyalty_card", do_not_merge=False, reason="x"))

    assert response.status_code == posted.status_code == 403
    assert "identity.change_identifiertype" in response.content.decode()
    assert IdentifierType.objects.get(key="loyalty_card").do_not_merge


def test_the_preview_updates_in_place_with_the_blocking_change(client, senior, household):
    detect()
    client.force_login(senior)

    response = client.post("/settings/identifier-types/loyalty_card/preview/",
                           settings_of("loyalty_card", do_not_merge=False),
                           headers={"HX-Request": "true"})

    page = response.content.decode()
    assert response.status_code == 200 and "<html" not in page
    assert "Do not merge customers with different IDs" in page and "on → off" in page
    assert "no longer by “Different unique IDs”" in page
    assert "candidate " in page


def test_a_senior_saves_a_change_with_a_reason_and_it_is_audited(client, senior, household):
    detect()
    client.force_login(senior)

    response = client.post("/settings/identifier-types/loyalty_card/",
                           settings_of("loyalty_card", do_not_merge=False,
                                       reason="Cards are reissued, not personal"), follow=True)

    assert response.status_code == 200
    assert not IdentifierType.objects.get(key="loyalty_card").do_not_merge
    entry = AuditEntry.objects.get(action="identifier_type.changed")
    assert entry.actor == senior
    assert entry.targets["identifier_type"] == "loyalty_card"
    assert entry.payload.data["before"] == {"do_not_merge": True}
    assert entry.payload.data["after"] == {
        "do_not_merge": False, "reason": "Cards are reissued, not personal"}
    job = IdentifierTypeJob.objects.get()
    assert job.kind == "recompute" and entry.targets["job"] == [job.pk]
    assert "Recompute blocking reasons" in response.content.decode()


def test_a_change_without_a_reason_is_not_saved(client, senior):
    client.force_login(senior)

    response = client.post("/settings/identifier-types/loyalty_card/",
                           settings_of("loyalty_card", do_not_merge=False))

    assert response.status_code == 200
    assert "say why" in response.content.decode()
    assert IdentifierType.objects.get(key="loyalty_card").do_not_merge
    assert not AuditEntry.objects.filter(action="identifier_type.changed").exists()


def test_a_change_that_breaks_uniqueness_is_refused_with_a_sample(client, senior):
    ann = write({"email": "ann@example.com", "phone": "(212) 555-0101"}, "email").profile_id
    bob = write({"email": "bob@example.com", "phone": "212 555 0101"}, "email").profile_id
    client.force_login(senior)

    response = client.post("/settings/identifier-types/phone/",
                           settings_of("phone", unique=True, reason="One phone per person"))

    assert response.status_code == 409
    page = response.content.decode()
    assert "Refused: nothing was changed." in page and "+12125550101" in page
    assert f'href="/profiles/{ann}/"' in page and f'href="/profiles/{bob}/"' in page
    assert not IdentifierType.objects.get(key="phone").unique
    assert not AuditEntry.objects.filter(action="identifier_type.changed").exists()


def test_adding_a_type_needs_the_add_permission(client, senior):
    client.force_login(senior)

    response = client.get("/settings/identifier-types/add/")

    assert response.status_code == 403
    assert "identity.add_identifiertype" in response.content.decode()


def test_an_admin_adds_a_type_and_writes_use_it_at_once(client, admin):
    client.force_login(admin)

    response = client.post("/settings/identifier-types/add/", {
        "key": "crm_id", "label": "CRM ID", "normaliser": "trim", "priority": "6",
        "unique": "on", "single_valued": "on", "do_not_merge": "on",
        "reason": "The CRM's own ids",
    })

    assert response.status_code == 302
    crm = IdentifierType.objects.get(key="crm_id")
    assert (crm.unique, crm.single_valued, crm.do_not_merge, crm.matchable) == (
        True, True, True, False)
    entry = AuditEntry.objects.get(action="identifier_type.added")
    assert entry.payload.data["after"]["reason"] == "The CRM's own ids"
    assert entry.actor == admin
    profile = write({"email": "ann@example.com", "crm_id": " A-1 "}, "email").profile_id
    assert crm.identifiers.get().profile_id == profile


def test_a_type_that_would_auto_merge_without_being_unique_is_not_added(client, admin):
    client.force_login(admin)

    response = client.post("/settings/identifier-types/add/", {
        "key": "device_id", "label": "Device", "normaliser": "trim", "priority": "6",
        "auto_merge": "on", "reason": "Devices",
    })

    assert response.status_code == 200
    assert "Automatic merges need a unique type" in response.content.decode()
    assert not IdentifierType.objects.filter(key="device_id").exists()


def test_a_job_reports_its_progress_and_stops_the_polling_when_done(client, viewer, senior):
    type_ = IdentifierType.objects.get(key="loyalty_card")
    job = IdentifierTypeJob.objects.create(identifier_type=type_, kind="recompute", total=10,
                                           done=4, status="running")
    client.force_login(viewer)

    running = client.get(f"/settings/identifier-types/jobs/{job.pk}/",
                         headers={"HX-Request": "true"})
    IdentifierTypeJob.objects.filter(pk=job.pk).update(status="succeeded", done=10)
    finished = client.get(f"/settings/identifier-types/jobs/{job.pk}/",
                          headers={"HX-Request": "true"})

    assert running.status_code == 200 and 'value="40"' in running.content.decode()
    assert 'hx-trigger="every 1s"' in running.content.decode()
    assert finished.status_code == 286 and 'value="100"' in finished.content.decode()


def test_without_javascript_the_preview_button_shows_the_impact_and_saves_nothing(
    client, senior, household
):
    detect()
    client.force_login(senior)

    response = client.post("/settings/identifier-types/loyalty_card/",
                           {**settings_of("loyalty_card", do_not_merge=False), "preview": "1"})

    assert response.status_code == 200
    assert response.context["preview"]["impact"].reasons_removed == {"unique_id_conflict": 1}
    assert "<html" in response.content.decode()
    assert IdentifierType.objects.get(key="loyalty_card").do_not_merge


def test_stewards_read_words_codes_only_in_small_print(client, senior, household):
    from tests.identity.test_words_not_codes import codes_in

    detect()
    keys = list(IdentifierType.objects.values_list("key", flat=True))
    client.force_login(senior)

    pages = [client.get("/settings/identifier-types/").content.decode(),
             client.get("/settings/identifier-types/loyalty_card/").content.decode(),
             client.post("/settings/identifier-types/loyalty_card/preview/",
                         settings_of("loyalty_card", do_not_merge=False, can_grant_access=False),
                         headers={"HX-Request": "true"}).content.decode()]

    assert [codes_in(page, [k for k in keys if "_" in k]) for page in pages] == [[], [], []]
