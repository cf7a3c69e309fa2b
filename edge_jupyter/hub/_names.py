"""What a user's key is called on OpenRouter, and whose key a name is: one rule, both ways.

The hook names the keys it makes and the admin CLI finds them again by that name alone
(``GET /keys`` is the source of truth, no store needed), so both use these two functions.
"""

from __future__ import annotations

from ._errors import HubError

PREFIX = "edge-jupyter"


def check_hub_name(hub_name: str) -> str:
    """The hub's name as it goes into key names: not empty, no ``:`` (it separates the parts)."""
    if hub_name is None:
        raise HubError("hub_name is required: a short name for this hub, unique among the hubs "
                       "that share this OpenRouter account (e.g. hub_name=\"class-2026\"; the "
                       "documented config reads it from EDGE_HUB_NAME).")
    name = hub_name.strip() if isinstance(hub_name, str) else ""
    if not name or ":" in name or any(ord(ch) < 32 for ch in name):
        raise HubError(f"hub_name must be a short name without ':' (it is part of every key's "
                       f"name on OpenRouter), not {hub_name!r}.")
    return name


def key_name(hub_name: str, username: str) -> str:
    """``edge-jupyter:{hub_name}:{username}``: the name of ``username``'s key on OpenRouter."""
    return f"{PREFIX}:{check_hub_name(hub_name)}:{username}"


def user_of(name: str | None, hub_name: str) -> str | None:
    """The username a key name belongs to on ``hub_name``, or None for any other key.

    The username is everything after the hub's prefix, so a username with ``:`` in it
    still comes back whole.
    """
    prefix = f"{PREFIX}:{check_hub_name(hub_name)}:"
    if not isinstance(name, str) or not name.startswith(prefix) or len(name) == len(prefix):
        return None
    return name[len(prefix):]
