import json

import pytest
from django.core.management import CommandError, call_command

from identity.models import ApiToken


@pytest.mark.django_db
def test_create_api_token_prints_only_a_token_that_opens_the_api(capsys, client):
    call_command("create_api_token", "webshop")
    printed = capsys.readouterr().out

    token = printed.strip()
    assert printed == f"{token}\n" and " " not in token
    response = client.post(
        "/api/v1/profiles/upsert",
        data=json.dumps({"record": {"email": "j@example.com"}, "matchKey": "email"}),
        content_type="application/json", headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201
    assert ApiToken.objects.get(name="webshop").last_used_at is not None


@pytest.mark.django_db
def test_a_token_name_is_used_once(capsys):
    call_command("create_api_token", "webshop")

    with pytest.raises(CommandError, match="exists already"):
        call_command("create_api_token", "webshop")
    assert ApiToken.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["", "   ", "w" * 101, "web\x00shop", "web\nshop"])
def test_a_token_name_is_one_line_of_1_to_100_characters(name):
    with pytest.raises(CommandError, match="a token's name is 1 to 100 printable characters"):
        call_command("create_api_token", name)

    assert not ApiToken.objects.exists()
