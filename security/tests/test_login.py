from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from security.models import LoginAttempt
from tenancy.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(db):
    user = UserFactory(username="carol", is_staff=True)
    user.set_password("right-password")
    user.save()
    return user


def sign_in(client, path, password, username="carol", ip="10.0.0.5"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_repeated_failures_lock_the_account_even_for_the_right_password(client, person, settings, path):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(3):
        assert sign_in(client, path, "wrong").status_code == 200  # the form again, with its error
    refused = sign_in(client, path, "right-password")
    assert refused.status_code == 200 and "_auth_user_id" not in client.session
    attempts = list(LoginAttempt.objects.filter(username="carol").order_by("at"))
    assert [(a.succeeded, a.locked_out) for a in attempts] == [(False, False)] * 3 + [(False, True)]
    assert attempts[0].ip == "10.0.0.5"

    with time_machine.travel(timezone.now() + timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS + 1)):
        assert sign_in(client, path, "right-password").status_code == 302
        assert client.session["_auth_user_id"] == str(person.pk)


def test_a_success_resets_the_count(client, person, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    sign_in(client, "/accounts/login/", "wrong")
    sign_in(client, "/accounts/login/", "wrong")
    assert sign_in(client, "/accounts/login/", "right-password").status_code == 302
    client.logout()
    sign_in(client, "/accounts/login/", "wrong")
    assert sign_in(client, "/accounts/login/", "right-password").status_code == 302


def test_an_address_guessing_many_usernames_is_locked(client, person, settings):
    settings.LOGIN_FAILURE_IP_LIMIT = 4
    for name in ("a", "b", "c", "d"):
        sign_in(client, "/accounts/login/", "x", username=name, ip="10.6.6.6")
    assert sign_in(client, "/accounts/login/", "right-password", ip="10.6.6.6").status_code == 200
    assert sign_in(client, "/accounts/login/", "right-password", ip="10.7.7.7").status_code == 302
