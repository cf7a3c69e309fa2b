"""The keyed OpenRouter client every front-end calls through, and model-id suggestions."""

from __future__ import annotations

import difflib

from ..openrouter import OpenRouterClient, OpenRouterError
from ._errors import NotConnected


def connected_client() -> OpenRouterClient:
    """A client with the key the key store resolves (env, keyring, file), or NotConnected."""
    from ..keystore import resolve_api_key

    resolved = resolve_api_key()
    if not resolved.key:
        reason = f" ({resolved.problem})" if getattr(resolved, "problem", "") else ""
        raise NotConnected(
            f"Not connected to OpenRouter{reason}: run `%edge connect` "
            "(or set OPENROUTER_API_KEY where Jupyter starts).")
    return OpenRouterClient(resolved.key)


def suggest_models(client: OpenRouterClient, model: str) -> list[str]:
    """Up to three listed model ids close to ``model`` (none when /models cannot be had)."""
    try:
        ids = [m.id for m in client.models()]
    except OpenRouterError:
        return []
    return difflib.get_close_matches(model, ids, n=3, cutoff=0.4)
