"""The crypt key the hub's key store encrypts with: JupyterHub's own, read as JupyterHub reads it.

``JUPYTERHUB_CRYPT_KEY`` is the key JupyterHub encrypts ``auth_state`` with; a hub that
has one already protects secrets with it, so the users' OpenRouter keys use it too
(``EDGE_HUB_CRYPT_KEY`` wins when set, to keep the two apart).  The format is
JupyterHub's (``jupyterhub/crypto.py``): one or more 32-byte keys separated by ``;``,
each hex (64 characters), URL-safe base64 (44) or raw; the first encrypts, all of them
decrypt, so a crypt key can be rotated by putting the new one first.

``cryptography`` is imported only when a crypt key is set.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any

from ._errors import HubStoreError

ENV_EDGE_CRYPT_KEY = "EDGE_HUB_CRYPT_KEY"
ENV_HUB_CRYPT_KEY = "JUPYTERHUB_CRYPT_KEY"
HOW_TO_MAKE = "make one with `openssl rand -hex 32`"


def _raw_key(text: str, variable: str, position: int) -> bytes:
    """One 32-byte key, exactly as ``jupyterhub.crypto._validate_key`` accepts it."""
    data = text.encode("ascii", "replace")
    if len(data) == 44:
        try:
            data = base64.urlsafe_b64decode(data)
        except (ValueError, binascii.Error):
            pass
    elif len(data) == 64:
        try:
            return binascii.a2b_hex(data)
        except (ValueError, binascii.Error):
            pass
    if len(data) != 32:
        raise HubStoreError(f"{variable} holds a key (number {position}) that is not 32 bytes "
                            f"written as hex or base64; {HOW_TO_MAKE}.")
    return data


def crypt_keys() -> tuple[str, list[bytes]] | None:
    """(the variable it came from, the raw keys) or None when neither variable is set."""
    for variable in (ENV_EDGE_CRYPT_KEY, ENV_HUB_CRYPT_KEY):
        value = os.environ.get(variable, "")
        if value.strip():
            parts = [part.strip() for part in value.split(";") if part.strip()]
            return variable, [_raw_key(part, variable, i) for i, part in enumerate(parts, 1)]
    return None


class Cipher:
    """Fernet (AES-128-CBC + HMAC-SHA256) under the crypt keys; the first one encrypts."""

    def __init__(self, variable: str, keys: list[bytes]) -> None:
        try:
            from cryptography.fernet import Fernet, MultiFernet
        except ImportError:
            raise HubStoreError(f"{variable} is set, but the `cryptography` package that "
                                "encrypts with it is not installed: "
                                "pip install 'edge-jupyter[hub]'.") from None
        self.variable = variable
        self._fernet: Any = MultiFernet([Fernet(base64.urlsafe_b64encode(k)) for k in keys])

    def __repr__(self) -> str:
        return f"Cipher(from {self.variable})"

    def encrypt(self, text: str) -> str:
        return str(self._fernet.encrypt(text.encode()).decode("ascii"))

    def decrypt(self, token: str) -> str | None:
        """The plaintext, or None when no crypt key opens ``token`` (or it is damaged)."""
        from cryptography.fernet import InvalidToken

        try:
            return str(self._fernet.decrypt(token.encode("ascii")).decode())
        except (InvalidToken, UnicodeError, ValueError):
            return None


def cipher_from_env() -> Cipher | None:
    found = crypt_keys()
    return Cipher(*found) if found else None
