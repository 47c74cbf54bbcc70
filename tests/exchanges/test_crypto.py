"""Sealing of credentials (AES-256-GCM), key ids, old keys and `manage.py rotate_secrets`."""

import base64
import io
import json
import os
import uuid

import pytest
from django.core.management import CommandError, call_command

from config.keys import decode_key, key_id
from exchanges import crypto, services
from exchanges.exceptions import ConnectionSecretsUnavailable
from exchanges.factory import gateway_for
from exchanges.models import ExchangeConnection
from workspaces.models import AuditEvent

SECRETS = {"api_key": "AKIA-live-key-7788", "api_secret": "s3cr3t/with+chars==", "passphrase": "pp"}


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def kid(value: str) -> str:
    return key_id(decode_key(value))


def test_seal_and_unseal_round_trip():
    connection_id = uuid.uuid4()
    sealed = crypto.seal(SECRETS, connection_id=connection_id)

    assert sealed.key_id == crypto.current_key()[0]
    raw = base64.b64decode(sealed.ciphertext)
    assert len(raw) == crypto.NONCE_BYTES + len(json.dumps(SECRETS, separators=(",", ":"))) + 16
    for value in SECRETS.values():
        assert value not in sealed.ciphertext
        assert value.encode() not in raw
    assert (
        crypto.unseal(sealed.ciphertext, sealed_key_id=sealed.key_id, connection_id=connection_id)
        == SECRETS
    )


def test_each_sealing_uses_a_fresh_nonce():
    connection_id = uuid.uuid4()
    first = crypto.seal(SECRETS, connection_id=connection_id)
    second = crypto.seal(SECRETS, connection_id=connection_id)
    assert first.ciphertext != second.ciphertext


def test_blank_fields_are_not_stored_and_unknown_fields_are_refused():
    connection_id = uuid.uuid4()
    sealed = crypto.seal({"api_key": "k" * 20, "passphrase": ""}, connection_id=connection_id)
    opened = crypto.unseal(
        sealed.ciphertext, sealed_key_id=sealed.key_id, connection_id=connection_id
    )
    assert opened == {"api_key": "k" * 20}
    with pytest.raises(ValueError, match="uid"):
        crypto.seal({"uid": "1"}, connection_id=connection_id)


@pytest.mark.parametrize("position", [0, 5, 20, -1])
def test_a_tampered_ciphertext_does_not_open(position):
    connection_id = uuid.uuid4()
    sealed = crypto.seal(SECRETS, connection_id=connection_id)
    raw = bytearray(base64.b64decode(sealed.ciphertext))
    raw[position] ^= 0x01
    tampered = base64.b64encode(bytes(raw)).decode()

    with pytest.raises(ConnectionSecretsUnavailable) as raised:
        crypto.unseal(tampered, sealed_key_id=sealed.key_id, connection_id=connection_id)
    assert "integrity" in raised.value.detail_text
    for value in SECRETS.values():
        assert value not in raised.value.detail_text


def test_a_ciphertext_is_bound_to_its_connection_and_its_key_id(settings):
    settings.SECRET_ENCRYPTION_OLD_KEYS = [new_key()]
    connection_id = uuid.uuid4()
    sealed = crypto.seal(SECRETS, connection_id=connection_id)

    with pytest.raises(ConnectionSecretsUnavailable):
        crypto.unseal(sealed.ciphertext, sealed_key_id=sealed.key_id, connection_id=uuid.uuid4())
    # Relabelled with another configured key's id: the associated data no longer matches.
    other = kid(settings.SECRET_ENCRYPTION_OLD_KEYS[0])
    with pytest.raises(ConnectionSecretsUnavailable):
        crypto.unseal(sealed.ciphertext, sealed_key_id=other, connection_id=connection_id)
    with pytest.raises(ConnectionSecretsUnavailable, match="not-a-key"):
        crypto.unseal(sealed.ciphertext, sealed_key_id="not-a-key", connection_id=connection_id)
    with pytest.raises(ConnectionSecretsUnavailable):
        crypto.unseal("%%%not base64", sealed_key_id=sealed.key_id, connection_id=connection_id)


def test_an_old_key_still_opens_what_it_sealed(settings):
    old = settings.SECRET_ENCRYPTION_KEY
    connection_id = uuid.uuid4()
    sealed = crypto.seal(SECRETS, connection_id=connection_id)

    settings.SECRET_ENCRYPTION_KEY = new_key()
    with pytest.raises(ConnectionSecretsUnavailable):
        crypto.unseal(sealed.ciphertext, sealed_key_id=sealed.key_id, connection_id=connection_id)

    settings.SECRET_ENCRYPTION_OLD_KEYS = [old]
    assert (
        crypto.unseal(sealed.ciphertext, sealed_key_id=sealed.key_id, connection_id=connection_id)
        == SECRETS
    )
    assert crypto.seal(SECRETS, connection_id=connection_id).key_id == kid(
        settings.SECRET_ENCRYPTION_KEY
    )


def test_api_key_hint_is_the_last_four_of_a_long_key_only():
    assert crypto.api_key_hint("AKIA-live-key-7788") == "7788"
    assert crypto.api_key_hint("short-key") == ""
    assert crypto.api_key_hint("") == ""


# --------------------------------------------------------------------------- rotation


@pytest.fixture
def sealed_connections(workspace):
    owner = workspace.created_by
    made = [
        services.create_connection(
            workspace=workspace,
            actor=owner,
            name=f"Binance {i}",
            exchange="binance",
            mode="testnet",
            api_key=f"binance-api-key-{i:04d}",
            api_secret=f"binance-secret-{i}",
        )
        for i in range(3)
    ]
    services.create_connection(
        workspace=workspace, actor=owner, name="Demo", exchange="demo", mode="demo"
    )
    return made


@pytest.mark.django_db
def test_rotate_secrets_reseals_under_the_new_key_and_is_idempotent(settings, sealed_connections):
    old_key = settings.SECRET_ENCRYPTION_KEY
    settings.SECRET_ENCRYPTION_KEY = new_key()
    settings.SECRET_ENCRYPTION_OLD_KEYS = [old_key]
    before = {c.pk: c.encrypted_secret for c in sealed_connections}

    out = io.StringIO()
    call_command("rotate_secrets", stdout=out)

    assert "3 re-sealed, 0 already current, 0 failed" in out.getvalue()
    new_id = kid(settings.SECRET_ENCRYPTION_KEY)
    for connection in ExchangeConnection.objects.exclude(encrypted_secret=""):
        assert connection.secret_key_id == new_id
        assert connection.encrypted_secret != before[connection.pk]
    assert ExchangeConnection.objects.get(name="Demo").secret_key_id == ""

    # The old key can go now: the new one opens everything.
    settings.SECRET_ENCRYPTION_OLD_KEYS = []
    rotated = ExchangeConnection.objects.get(pk=sealed_connections[1].pk)
    assert gateway_for(rotated)._client.apiKey == "binance-api-key-0001"
    assert gateway_for(rotated)._client.secret == "binance-secret-1"

    again = io.StringIO()
    call_command("rotate_secrets", stdout=again)
    assert "0 re-sealed, 3 already current, 0 failed" in again.getvalue()
    events = AuditEvent.objects.filter(action="secrets.rotate").order_by("created_at")
    assert [e.details["resealed"] for e in events] == [3, 0]
    assert events[0].details["key_id"] == new_id
    assert old_key not in str(events[0].details)


@pytest.mark.django_db
def test_rotate_secrets_reports_what_no_key_opens_and_fails(settings, sealed_connections):
    settings.SECRET_ENCRYPTION_KEY = new_key()  # the old key is lost, not in OLD_KEYS

    out = io.StringIO()
    with pytest.raises(CommandError, match="3 connection"):
        call_command("rotate_secrets", stdout=out)

    assert "0 re-sealed, 0 already current, 3 failed" in out.getvalue()
    assert str(sealed_connections[0].pk) in out.getvalue()
    unchanged = ExchangeConnection.objects.get(pk=sealed_connections[0].pk)
    assert unchanged.encrypted_secret == sealed_connections[0].encrypted_secret
