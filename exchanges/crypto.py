"""AES-256-GCM sealing of a connection's credentials under SECRET_ENCRYPTION_KEY.

A sealed secret is `base64(nonce ‖ ciphertext ‖ tag)` of the JSON object
`{"api_key": …, "api_secret": …, "passphrase": …}` (only the fields that are set), stored in
`ExchangeConnection.encrypted_secret` beside `secret_key_id`, the public fingerprint of the key
(`config.keys.key_id`). The associated data binds the ciphertext to that key id and to the
connection's id, so a sealed value copied onto another connection, or relabelled with another
key id, fails its integrity check instead of opening.

Keys: the current key seals; the keys in SECRET_ENCRYPTION_OLD_KEYS only open what they sealed
before a rotation (`manage.py rotate_secrets` re-seals everything under the current key).
Nothing here logs, and no error message carries a secret, a key or a ciphertext.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from config.keys import decode_key, key_id
from exchanges.exceptions import ConnectionSecretsUnavailable

SECRET_FIELDS = ("api_key", "api_secret", "passphrase")
NONCE_BYTES = 12  # the size GCM is specified for; random per sealing
_AAD_PREFIX = "botmarket:exchange-connection:v1"


@dataclass(frozen=True)
class SealedSecret:
    """What is stored: the base64 ciphertext and the id of the key that sealed it."""

    ciphertext: str
    key_id: str


@sensitive_variables()  # error reports must not show keys or plaintext (the same below)
def current_key() -> tuple[str, bytes]:
    """The id and bytes of the key that seals (SECRET_ENCRYPTION_KEY)."""
    raw = decode_key(settings.SECRET_ENCRYPTION_KEY)
    return key_id(raw), raw


@sensitive_variables()
def keyring() -> dict[str, bytes]:
    """Every key that may open a secret, by key id: the current one and the old ones."""
    current_id, current_raw = current_key()
    ring = {current_id: current_raw}
    for index, value in enumerate(settings.SECRET_ENCRYPTION_OLD_KEYS):
        if not str(value).strip():
            continue
        raw = decode_key(str(value), name=f"SECRET_ENCRYPTION_OLD_KEYS[{index}]")
        ring.setdefault(key_id(raw), raw)
    return ring


def _associated_data(sealing_key_id: str, connection_id) -> bytes:
    return f"{_AAD_PREFIX}:{sealing_key_id}:{connection_id}".encode()


@sensitive_variables()
def seal(secrets: Mapping[str, str], *, connection_id) -> SealedSecret:
    """Encrypt the non-empty credential fields of `secrets` for the connection `connection_id`."""
    unknown = set(secrets) - set(SECRET_FIELDS)
    if unknown:
        raise ValueError(f"Unknown secret fields: {', '.join(sorted(unknown))}.")
    payload = json.dumps(
        {name: secrets[name] for name in SECRET_FIELDS if secrets.get(name)},
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    sealing_key_id, raw = current_key()
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(raw).encrypt(
        nonce, payload, _associated_data(sealing_key_id, connection_id)
    )
    return SealedSecret(base64.b64encode(nonce + ciphertext).decode("ascii"), sealing_key_id)


@sensitive_variables()
def unseal(ciphertext: str, *, sealed_key_id: str, connection_id) -> dict[str, str]:
    """Decrypt a sealed secret; raise ConnectionSecretsUnavailable if it cannot be opened."""
    raw = keyring().get(sealed_key_id)
    if raw is None:
        raise ConnectionSecretsUnavailable(
            f"The credentials were sealed with key {sealed_key_id or '(none)'}, which is neither "
            "SECRET_ENCRYPTION_KEY nor in SECRET_ENCRYPTION_OLD_KEYS."
        )
    try:
        blob = base64.b64decode(ciphertext, validate=True)
        if len(blob) <= NONCE_BYTES:
            raise ValueError("too short")
        plaintext = AESGCM(raw).decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], _associated_data(sealed_key_id, connection_id)
        )
        secrets = json.loads(plaintext)
    except (binascii.Error, ValueError, InvalidTag):
        # Deliberately vague and `from None`: the cause would only say which byte was wrong.
        raise ConnectionSecretsUnavailable(
            "The stored credentials failed their integrity check; enter them again."
        ) from None
    return {name: str(secrets[name]) for name in SECRET_FIELDS if secrets.get(name)}


def api_key_hint(api_key: str) -> str:
    """The last 4 characters of an API key, shown so users can tell keys apart.

    Keys shorter than 12 characters get no hint: four of them would give away too much.
    """
    return api_key[-4:] if len(api_key) >= 12 else ""
