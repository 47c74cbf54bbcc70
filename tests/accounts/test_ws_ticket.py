"""POST /api/v1/auth/ws-ticket: a single-use, short-lived ticket for one WebSocket handshake."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import issue_ws_ticket, redeem_ws_ticket
from tests.conftest import _member, assert_problem
from workspaces.models import Role

pytestmark = pytest.mark.django_db

URL = "/api/v1/auth/ws-ticket"


def test_a_signed_in_user_gets_a_ticket_that_expires_soon(trader_api, settings):
    before = timezone.now()
    response = trader_api.post(URL)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"ticket", "expires_at"}
    assert len(body["ticket"]) >= 40
    expires_at = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    ttl = timedelta(seconds=settings.WS_TICKET_TTL_SECONDS)
    assert before + ttl <= expires_at <= timezone.now() + ttl


def test_two_requests_get_two_tickets(trader_api):
    assert trader_api.post(URL).json()["ticket"] != trader_api.post(URL).json()["ticket"]


def test_without_authentication_it_is_401():
    assert_problem(APIClient().post(URL), 401)


def test_a_session_post_needs_the_csrf_token(workspace):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(_member(workspace, Role.TRADER))

    assert_problem(client.post(URL), 403)


def test_a_ticket_is_redeemed_once_for_its_user(workspace):
    trader = _member(workspace, Role.TRADER)
    ticket, _expires_at = issue_ws_ticket(user=trader)

    assert redeem_ws_ticket(ticket) == trader
    assert redeem_ws_ticket(ticket) is None


def test_a_ticket_of_a_deactivated_user_is_refused(workspace):
    trader = _member(workspace, Role.TRADER)
    ticket, _expires_at = issue_ws_ticket(user=trader)
    trader.is_active = False
    trader.save(update_fields=["is_active"])

    assert redeem_ws_ticket(ticket) is None


@pytest.mark.parametrize("ticket", ["", "x" * 200, "unknown"])
def test_unknown_and_malformed_tickets_are_refused(ticket):
    assert redeem_ws_ticket(ticket) is None


def test_the_endpoint_is_in_the_openapi_schema(trader_api):
    schema = trader_api.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/auth/ws-ticket"]["post"]

    assert set(operation["responses"]) >= {"200", "401"}
    assert "single-use" in operation["description"]
