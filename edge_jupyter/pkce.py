"""PKCE (RFC 7636, S256) as OpenRouter does it: 32 random bytes, base64url without padding."""

from __future__ import annotations

import base64
import hashlib
import secrets


def new_verifier() -> str:
    """A fresh 43-character code verifier."""
    return secrets.token_urlsafe(32)


def challenge_for(verifier: str) -> str:
    """``base64url(sha256(verifier))`` with the ``=`` padding stripped."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
