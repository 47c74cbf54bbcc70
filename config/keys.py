"""Loading of the AES-256 key(s) that protect exchange secrets at rest."""

from __future__ import annotations

import base64
import binascii
import hashlib

from django.core.exceptions import ImproperlyConfigured

KEY_BYTES = 32


def decode_key(value: str, *, name: str = "SECRET_ENCRYPTION_KEY") -> bytes:
    """Decode a base64 32-byte key, or raise ImproperlyConfigured naming the fault (not the key)."""
    if not value:
        raise ImproperlyConfigured(f"{name} is not set.")
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured(f"{name} is not valid base64.") from None
    if len(raw) != KEY_BYTES:
        raise ImproperlyConfigured(f"{name} must decode to {KEY_BYTES} bytes, not {len(raw)}.")
    return raw


def key_id(raw: bytes) -> str:
    """A short public fingerprint of a key, stored beside each ciphertext to pick the key."""
    return hashlib.sha256(b"botmarket-key-id:" + raw).hexdigest()[:16]
