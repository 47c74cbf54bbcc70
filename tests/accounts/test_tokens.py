"""Token authentication: one query per request, expired tokens refused, purged by beat."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from knox.models import AuthToken
from rest_framework import exceptions
from rest_framework.test import APIRequestFactory

from accounts.authentication import TokenAuthentication
from accounts.tasks import purge_expired_tokens_task
from config.celery import app
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def _authenticate(raw: str):
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Token {raw}")
    return TokenAuthentication().authenticate(request)


def test_a_live_token_authenticates_in_one_query_and_writes_nothing():
    user = make_user("ada")
    # Other tokens of the user, one of them expired: knox would delete it on this request.
    AuthToken.objects.create(user=user, expiry=timedelta(seconds=-1))
    AuthToken.objects.create(user=user)
    token, raw = AuthToken.objects.create(user=user)
    with CaptureQueriesContext(connection) as queries:
        authenticated, auth = _authenticate(raw)
    assert (authenticated, auth) == (user, token)
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["SELECT"]
    assert AuthToken.objects.filter(user=user).count() == 3


def test_an_expired_token_is_refused_and_left_for_the_purge():
    user = make_user("ada")
    _token, raw = AuthToken.objects.create(user=user, expiry=timedelta(seconds=-1))
    with pytest.raises(exceptions.AuthenticationFailed):
        _authenticate(raw)
    assert AuthToken.objects.filter(user=user).count() == 1


@pytest.mark.parametrize("raw", ["not-a-token", "ff" * 40, "\u00e9t\u00e9"])
def test_unknown_or_malformed_tokens_are_refused(raw):
    make_user("ada")
    with pytest.raises(exceptions.AuthenticationFailed):
        _authenticate(raw)


def test_an_inactive_users_token_is_refused():
    user = make_user("ada", is_active=False)
    _token, raw = AuthToken.objects.create(user=user)
    with pytest.raises(exceptions.AuthenticationFailed):
        _authenticate(raw)


def test_the_purge_deletes_expired_tokens_only():
    ada, bob = make_user("ada"), make_user("bob")
    for user in (ada, bob):
        AuthToken.objects.create(user=user, expiry=timedelta(seconds=-1))
    live, _raw = AuthToken.objects.create(user=ada)
    assert purge_expired_tokens_task.apply().get() == 2
    assert list(AuthToken.objects.all()) == [live]
    AuthToken.objects.filter(pk=live.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    assert purge_expired_tokens_task.apply().get() == 1


def test_beat_purges_hourly():
    entry = app.conf.beat_schedule["accounts-purge-expired-tokens"]
    assert entry["task"] == "accounts.purge_expired_tokens" == purge_expired_tokens_task.name
    assert entry["schedule"].run_every == timedelta(hours=1)
