"""`manage.py import_profiles`: each CSV row is a write, resolved like an API upsert."""

import csv
import gc
import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from identity.models import DuplicateCandidate, Identifier, IdentifierType, IdentityConflict
from profiles.models import Profile

HEADER = "first_name,last_name,email,phone,customer_id,city\n"


def write_file(tmp_path, text, name="people.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def run_import(path, *args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_profiles", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def read_rejects(path):
    with open(path, newline="", encoding="utf-8") as rejects:
        return list(csv.reader(rejects))


def profile_by(type_key, value):
    return Identifier.objects.get(type__key=type_key, value=value, is_current=True).profile


def values_of(profile, type_key):
    return sorted(profile.identifiers.filter(type__key=type_key).values_list("value", flat=True))


def database_counts():
    return (
        Profile.objects.count(), Identifier.objects.count(), DuplicateCandidate.objects.count()
    )


@pytest.mark.django_db
def test_rows_become_profiles_with_normalised_identifiers_and_attributes(tmp_path):
    path = write_file(
        tmp_path,
        HEADER
        + "Jane,Doe, Jane.Doe@Example.COM ,(212) 555-0134,C-1,New York\n"
        + "Bob,Roe,bob@example.com,,,\n",
    )

    out, err = run_import(path, "--match-key", "email")

    jane = profile_by("email", "jane.doe@example.com")
    assert values_of(jane, "phone") == ["+12125550134"]
    assert values_of(jane, "customer_id") == ["C-1"]
    assert jane.attribute("first_name") == "Jane"
    assert jane.attribute("city") == "New York"
    assert jane.identifiers.get(type__key="email").raw_value == " Jane.Doe@Example.COM "
    assert jane.identifiers.get(type__key="email").source == "people.csv"
    bob = profile_by("email", "bob@example.com")
    assert values_of(bob, "phone") == []
    assert "city" not in bob.attributes  # an empty cell is not given, not null
    assert Profile.objects.count() == 2
    assert "Read 2 rows" in out
    assert "profiles created:          2" in out
    assert "rows rejected:             0" in out
    assert "100%" in err  # the progress bar, on stderr


@pytest.mark.django_db
def test_the_source_names_the_channel_the_identifiers_came_from(tmp_path):
    path = write_file(tmp_path, HEADER + "Jane,Doe,jane@example.com,,,\n")

    run_import(path, "--match-key", "email", "--source", "crm-export")

    assert Identifier.objects.get(value="jane@example.com").source == "crm-export"


@pytest.mark.django_db
def test_bad_rows_are_rejected_with_their_reason_and_good_rows_kept(tmp_path):
    long_city = "x" * 1001
    path = write_file(
        tmp_path,
        HEADER
        + "Ann,Lee,ann@example.com,,,Boston\n"
        + "Bad,Email,not-an-email,,,\n"
        + "Bad,Phone,phone@example.com,12,,\n"
        + "Too,Many,many@example.com,,,,extra\n"
        + f"Long,City,long@example.com,,,{long_city}\n"
        + "No,Email,,,C-9,\n"
        + "Cal,Wu,cal@example.com,,,Austin\n",
    )

    out, _ = run_import(path, "--match-key", "email", "--batch-size", "2")

    emails = Identifier.objects.filter(type__key="email").values_list("value", flat=True)
    assert sorted(emails) == ["ann@example.com", "cal@example.com"]
    assert Profile.objects.count() == 2
    rejects = read_rejects(tmp_path / "people.csv.rejects.csv")
    assert rejects[0] == ["row", "field", "reason", *HEADER.strip().split(",")]
    assert [row[:2] for row in rejects[1:]] == [
        ["3", "email"], ["4", "phone"], ["5", ""], ["6", "city"], ["7", "email"],
    ]
    reasons = [row[2] for row in rejects[1:]]
    assert "'not-an-email' is not a valid email address" in reasons[0]
    assert "'12'" in reasons[1] and "phone" in reasons[1]
    assert reasons[2] == "the row has 7 columns, the header has 6"
    assert "longer than 1000 characters" in reasons[3]
    assert "no 'email' value" in reasons[4]
    assert rejects[1][3:] == ["Bad", "Email", "not-an-email", "", "", ""]
    assert rejects[3][3:] == ["Too", "Many", "many@example.com", "", "", "", "extra"]
    assert "Read 7 rows" in out
    assert "rows rejected:             5" in out
    assert "people.csv.rejects.csv" in out


@pytest.mark.django_db
def test_rejects_go_to_the_reject_file_asked_for(tmp_path):
    path = write_file(tmp_path, HEADER + "Bad,Email,not-an-email,,,\n")
    rejects = tmp_path / "out" / "rejected.csv"
    rejects.parent.mkdir()

    run_import(path, "--match-key", "email", "--reject-file", str(rejects))

    assert read_rejects(rejects)[1][:2] == ["2", "email"]
    assert not (tmp_path / "people.csv.rejects.csv").exists()


@pytest.mark.django_db
def test_no_reject_file_is_left_when_every_row_imports(tmp_path):
    path = write_file(tmp_path, HEADER + "Bad,Email,not-an-email,,,\n")
    run_import(path, "--match-key", "email")
    assert (tmp_path / "people.csv.rejects.csv").exists()

    write_file(tmp_path, HEADER + "Good,Email,good@example.com,,,\n")
    run_import(path, "--match-key", "email")

    assert not (tmp_path / "people.csv.rejects.csv").exists()  # no stale rejects either


@pytest.mark.django_db
def test_row_numbers_are_the_ones_a_spreadsheet_shows(tmp_path):
    text = (
        HEADER
        + 'Ann,Lee,ann@example.com,,,"Flat 2\nHigh Street"\n'  # one row over two lines
        + "\n"  # a blank row is skipped but keeps its number
        + "Bad,Email,not-an-email,,,\n"
    )
    path = write_file(tmp_path, b"\xef\xbb\xbf" + text.encode())  # with a BOM, as Excel saves

    run_import(path, "--match-key", "email")

    assert profile_by("email", "ann@example.com").attribute("city") == "Flat 2\nHigh Street"
    assert profile_by("email", "ann@example.com").attribute("first_name") == "Ann"
    assert [row[:2] for row in read_rejects(tmp_path / "people.csv.rejects.csv")[1:]] == [
        ["4", "email"]
    ]


@pytest.mark.django_db
def test_a_row_that_is_not_utf8_is_rejected_and_the_others_kept(tmp_path):
    path = write_file(
        tmp_path,
        HEADER.encode()
        + "Zoë,Faure,zoe@example.com,,,Paris\n".encode()
        + "Caf\xe9,Owner,cafe@example.com,,,Lyon\n".encode("latin-1"),
    )

    run_import(path, "--match-key", "email")

    assert profile_by("email", "zoe@example.com").attribute("first_name") == "Zoë"
    assert not Identifier.objects.filter(value="cafe@example.com").exists()
    rejected = read_rejects(tmp_path / "people.csv.rejects.csv")[1]
    assert rejected[:3] == ["3", "", "the row is not valid UTF-8"]
    assert rejected[3] == "Caf\\xe9"


@pytest.mark.django_db
def test_a_quote_left_open_is_rejected_naming_the_lines_it_took(tmp_path):
    path = write_file(
        tmp_path,
        HEADER
        + "Ann,Lee,ann@example.com,,,Leeds\n"
        + 'Bo,"Ng,bo@example.com,,,York\n'  # the quote is never closed: it runs to the end
        + "Cy,Roe,cy@example.com,,,Hull\n",
    )

    run_import(path, "--match-key", "email")

    assert profile_by("email", "ann@example.com").attribute("city") == "Leeds"
    assert not Identifier.objects.filter(value__in=["bo@example.com", "cy@example.com"]).exists()
    assert read_rejects(tmp_path / "people.csv.rejects.csv")[1][:3] == [
        "3", "", "the row is not valid CSV: a quote is opened and never closed "
                 "(lines 3 to 4 of the file)",
    ]


@pytest.mark.django_db
def test_text_after_a_closing_quote_is_rejected_not_joined_to_the_value(tmp_path):
    path = write_file(tmp_path, HEADER + 'Ann,"Lee"son,ann@example.com,,,Leeds\n'
                                       + "Bo,Ng,bo@example.com,,,York\n")

    run_import(path, "--match-key", "email")

    assert not Identifier.objects.filter(value="ann@example.com").exists()
    assert profile_by("email", "bo@example.com").attribute("last_name") == "Ng"
    assert read_rejects(tmp_path / "people.csv.rejects.csv")[1][2] == (
        "the row is not valid CSV: text follows a closing quote (line 2 of the file)"
    )


@pytest.mark.django_db
def test_reimporting_the_same_file_creates_nothing_new(tmp_path):
    path = write_file(
        tmp_path,
        HEADER
        + "Ann,Lee,ann@example.com,(212) 555-0134,C-1,Boston\n"
        + "Cy,Kim,cy@example.com,,C-2,Denver\n"
        # Ann again with Cy's customer id: a collision, reported and made a candidate.
        + "Ann,Lee,ann@example.com,,C-2,Boston\n"
        + "Bad,Email,not-an-email,,,\n",
    )
    first, _ = run_import(path, "--match-key", "email")
    before = database_counts()
    assert before == (2, 5, 1)
    assert "conflicts reported:        1" in first

    again, _ = run_import(path, "--match-key", "email")

    assert database_counts() == before
    assert "profiles created:          0" in again
    assert "rows matched to a profile: 3" in again
    assert "rows rejected:             1" in again


@pytest.mark.django_db
def test_reimporting_with_the_same_observed_times_changes_nothing(tmp_path):
    path = write_file(
        tmp_path,
        "email,city,seen\nann@example.com,Boston,2024-05-01T10:00:00Z\n",
    )
    run_import(path, "--match-key", "email", "--observed-at-column", "seen")
    ann = profile_by("email", "ann@example.com")

    run_import(path, "--match-key", "email", "--observed-at-column", "seen")

    again = Profile.objects.get(pk=ann.pk)
    assert again.attributes == ann.attributes
    assert again.updated_at == ann.updated_at
    last_seen = Identifier.objects.get(value="ann@example.com").last_seen
    assert last_seen.isoformat() == "2024-05-01T10:00:00+00:00"


@pytest.mark.django_db
def test_two_rows_of_one_person_in_a_file_end_in_one_profile(tmp_path):
    path = write_file(
        tmp_path,
        HEADER
        + "Ann,Lee,ann.lee@example.com,(212) 555-0134,,Boston\n"
        + "Ann,Lee, ANN.LEE@Example.com ,+1 212 555 0134,C-7,Chicago\n",
    )

    out, _ = run_import(path, "--match-key", "email")

    ann = profile_by("email", "ann.lee@example.com")
    assert Profile.objects.count() == 1
    assert values_of(ann, "phone") == ["+12125550134"]
    assert values_of(ann, "customer_id") == ["C-7"]
    assert ann.attribute("city") == "Chicago"  # without observed times, the later row wins
    assert "profiles created:          1" in out
    assert "rows matched to a profile: 1" in out


@pytest.mark.django_db
def test_observed_at_column_decides_which_row_wins_not_the_file_order(tmp_path):
    path = write_file(
        tmp_path,
        "email,city,tier,seen\n"
        "ann@example.com,Chicago,gold,2024-05-02T09:00:00Z\n"
        "ann@example.com,Boston,,2024-05-01T09:00:00Z\n"
        "ann@example.com,,silver,2024-05-03T09:00:00Z\n",
    )

    run_import(path, "--match-key", "email", "--observed-at-column", "seen")

    ann = profile_by("email", "ann@example.com")
    assert ann.attribute("city") == "Chicago"  # the older Boston row came later in the file
    assert ann.attribute("tier") == "silver"
    assert "seen" not in ann.attributes  # the time column is not an attribute


@pytest.mark.django_db
def test_a_row_with_an_unreadable_observed_time_is_rejected(tmp_path):
    path = write_file(tmp_path, "email,seen\nann@example.com,last tuesday\n")

    run_import(path, "--match-key", "email", "--observed-at-column", "seen")

    assert Profile.objects.count() == 0
    assert read_rejects(tmp_path / "people.csv.rejects.csv")[1][:2] == ["2", "seen"]


@pytest.mark.django_db
def test_access_contacts_mark_identifiers_as_granting_access(tmp_path):
    path = write_file(
        tmp_path,
        HEADER
        + "Ann,Lee,ann@example.com,(212) 555-0134,C-1,\n"
        + "Cy,Kim,cy@example.com,,C-2,\n",  # no phone: still imported
    )

    run_import(path, "--match-key", "email", "--access-contacts", "email,phone")

    access = dict(Identifier.objects.values_list("value", "grants_access"))
    assert access == {
        "ann@example.com": True, "+12125550134": True, "C-1": False,
        "cy@example.com": True, "C-2": False,
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("header", "options", "message"),
    [
        (HEADER, ["--match-key", "shoe_size"], "'shoe_size' is not an identifier type"),
        (HEADER, ["--match-key", "phone"], "'phone' is not a unique identifier type"),
        (HEADER, ["--match-key", "loyalty_card"], "'loyalty_card': the file has no such column"),
        (
            HEADER, ["--match-key", "email", "--observed-at-column", "seen"],
            "--observed-at-column 'seen': the file has no such column",
        ),
        (
            HEADER, ["--match-key", "email", "--access-contacts", "email,loyalty_card"],
            "--access-contacts 'loyalty_card': the file has no such column",
        ),
        (
            HEADER, ["--match-key", "email", "--access-contacts", "customer_id"],
            "customer_id identifiers cannot grant access",
        ),
        (
            "email,First Name\n", ["--match-key", "email"],
            "column 'First Name' is neither an identifier type nor a valid attribute name",
        ),
        (
            "email,Phone\n", ["--match-key", "email"],
            "column 'Phone' is not identifier type 'phone': names are matched exactly",
        ),
        ("email,city,city\n", ["--match-key", "email"], "'city' appears more than once"),
        ("", ["--match-key", "email"], "the file is empty"),
        (HEADER, ["--match-key", "email", "--batch-size", "0"], "--batch-size must be between"),
        (HEADER, ["--match-key", "email", "--batch-size", "50000"], "--batch-size must be between"),
    ],
)
def test_a_bad_header_or_option_is_refused_and_nothing_is_imported(
    tmp_path, header, options, message
):
    path = write_file(tmp_path, header + "ann@example.com,Boston,x,y,z,w\n" if header else "")

    with pytest.raises(CommandError, match="nothing was imported") as refused:
        run_import(path, *options)

    assert message in str(refused.value)
    assert database_counts() == (0, 0, 0)
    assert not (tmp_path / "people.csv.rejects.csv").exists()


@pytest.mark.django_db
def test_a_file_whose_lines_end_in_a_carriage_return_alone_is_refused_saying_so(tmp_path):
    path = write_file(tmp_path, "email,city\r" + "ann@example.com,Leeds\r" * 10_000)

    with pytest.raises(CommandError, match="nothing was imported") as refused:
        run_import(path, "--match-key", "email")

    assert "the file's lines end with a carriage return alone (the old Mac format)" in str(
        refused.value)
    assert database_counts() == (0, 0, 0)


@pytest.mark.django_db
def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        run_import(tmp_path / "missing.csv", "--match-key", "email")


@pytest.mark.django_db
def test_a_batch_that_keeps_failing_is_retried_row_by_row(tmp_path):
    # A tombstone still holding a current email (state no service makes) makes every write of
    # that email fail on the unique index until resolution gives up: only that row is lost.
    survivor = Profile.objects.create()
    tombstone = Profile.objects.create(status=Profile.Status.MERGED, merged_into=survivor)
    Identifier.objects.create(
        profile=tombstone, type=IdentifierType.objects.get(key="email"),
        raw_value="ghost@example.com", value="ghost@example.com", is_unique=True,
        is_single_valued=False,
    )
    path = write_file(
        tmp_path,
        HEADER
        + "Ann,Lee,ann@example.com,,,\n"
        + "Gus,Host,ghost@example.com,,,\n"
        + "Cy,Kim,cy@example.com,,,\n",
    )

    out, _ = run_import(path, "--match-key", "email")

    assert Identifier.objects.filter(value__in=["ann@example.com", "cy@example.com"]).count() == 2
    assert IdentityConflict.objects.count() == 0
    rejects = read_rejects(tmp_path / "people.csv.rejects.csv")
    assert [row[:2] for row in rejects[1:]] == [["3", ""]]
    assert "concurrent changes" in rejects[1][2]
    assert "profiles created:          2" in out


@pytest.mark.django_db
def test_a_large_batch_stores_what_the_same_rows_one_by_one_store(tmp_path):
    # 150 people with three identifiers each, then a third of them again from another city:
    # one batch of 200 rows inserts its new rows by COPY, single rows within one statement.
    rows = [f"P{n},Lee,p{n}@example.com,(212) 555-{n:04d},C-{n},Boston\n" for n in range(150)]
    rows += [f"Pat{n},Lee,p{n}@example.com,,C-{n},Denver\n" for n in range(0, 150, 3)]
    path = write_file(tmp_path, HEADER + "".join(rows))

    def stored():
        return sorted(
            (
                profile.identifiers.get(type__key="email").value,
                sorted(profile.identifiers.values_list("type__key", "value", "is_current")),
                profile.attribute("first_name"),
                profile.attribute("city"),
                (profile.features.first_name, profile.features.city),
            )
            for profile in Profile.objects.select_related("features")
        )

    run_import(path, "--match-key", "email")
    in_one_batch = stored()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # check the deferred foreign keys now
        cursor.execute("TRUNCATE profiles_profile, identity_identifier CASCADE")
    run_import(path, "--match-key", "email", "--batch-size", "1")

    assert stored() == in_one_batch
    assert len(in_one_batch) == 150
    assert next(row for row in in_one_batch if row[0] == "p3@example.com") == (
        "p3@example.com",
        [("customer_id", "C-3", True), ("email", "p3@example.com", True),
         ("phone", "+12125550003", True)],
        "Pat3", "Denver", ("pat", "denver"),  # matching folds names to their letters
    )


@pytest.mark.django_db
def test_an_import_leaves_the_process_collecting_garbage_as_before(tmp_path):
    # The import runs Python's cycle collector less while it reads (identity.writing.importer);
    # a long-running process that calls it (a worker, a shell) gets its settings back, and
    # no objects frozen out of collection, even when the import is refused.
    gc.set_threshold(900, 11, 12)
    try:
        run_import(write_file(tmp_path, HEADER + "Jane,Doe,jane@example.com,,,\n"),
                   "--match-key", "email")
        with pytest.raises(CommandError):
            run_import(write_file(tmp_path, HEADER, name="empty.csv"), "--match-key", "nope")

        assert gc.get_threshold() == (900, 11, 12)
        assert gc.get_freeze_count() == 0
        assert gc.isenabled()
    finally:
        gc.set_threshold(700, 10, 10)


@pytest.mark.django_db
def test_a_customers_run_of_rows_across_batches_is_resolved_in_full_batches(
    tmp_path, monkeypatch
):
    # A batch ends early before a row meeting the batch resolving beside it, so that the two
    # do not wait for each other; a customer's forty rows in a row, the first of them in the
    # batch before, still go ten to a batch, not one.
    from identity.writing import importer

    batches = []

    def resolve_writes(writes, **options):
        batches.append(len(writes))
        return real_resolve_writes(writes, **options)

    real_resolve_writes = importer.resolve_writes
    monkeypatch.setattr(importer, "resolve_writes", resolve_writes)
    rows = [f"P{n},Lee,p{n}@example.com,,C-{n},Boston\n" for n in range(9)]
    rows += [f"Ann,Lee,ann@example.com,,C-ANN,Town {n}\n" for n in range(41)]
    path = write_file(tmp_path, HEADER + "".join(rows))

    run_import(path, "--match-key", "email", "--batch-size", "10")

    assert batches == [10] * 5
    ann = profile_by("email", "ann@example.com")
    assert ann.attribute("city") == "Town 40"  # the last row wins: file order held
    assert Profile.objects.count() == 10
