"""The hub's authenticator class, wrapped so that removing a user disables their key.

JupyterHub has no "user removed" hook besides ``Authenticator.delete_user`` (awaited by
the users API before the user is deleted), so :func:`wrap_authenticator` subclasses the
configured authenticator and adds that step.  The configured value is resolved as
JupyterHub resolves ``authenticator_class``: a class, a name registered under the
``jupyterhub.authenticators`` entry points ("dummy", "pam", "default", …), or a dotted
import path.  ``c.DummyAuthenticator.…`` style settings still apply: traitlets reads a
configurable's settings under every class name in its MRO.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from ._errors import HubError

if TYPE_CHECKING:
    from ._edge_keys import EdgeKeys

ENTRY_POINTS = "jupyterhub.authenticators"


def resolve_authenticator(value: Any) -> type:
    """The class ``c.JupyterHub.authenticator_class = value`` means (JupyterHub's lookup)."""
    if isinstance(value, type):
        return value
    if not isinstance(value, str) or not value.strip():
        raise HubError(f"c.JupyterHub.authenticator_class must be a class or its name, not "
                       f"{value!r}.")
    from importlib.metadata import entry_points

    registry = {ep.name.lower(): ep for ep in entry_points(group=ENTRY_POINTS)}
    found = registry.get(value.strip().lower())
    try:
        if found is not None:
            cls = found.load()
        else:
            from traitlets.utils.importstring import import_item

            cls = import_item(value.strip())
    except (ImportError, AttributeError, ValueError) as exc:
        raise HubError(f"The authenticator {value!r} cannot be loaded ({type(exc).__name__}: "
                       f"{exc}): set c.JupyterHub.authenticator_class before edge.install(c) "
                       f"to one of {', '.join(sorted(registry))} or a dotted class path.") from None
    if not isinstance(cls, type):
        raise HubError(f"The authenticator {value!r} is not a class.")
    return cls


def wrap_authenticator(value: Any, edge: EdgeKeys) -> type:
    """A subclass of the configured authenticator whose ``delete_user`` disables the key first.

    First, so that a key that cannot be disabled (OpenRouter unreachable) fails the removal
    with a message saying so, and the admin can try again; the user is never gone while
    their key still works.
    """
    base: Any = resolve_authenticator(value)
    if getattr(base, "_edge_keys", None) is edge:
        return base  # install() ran twice: wrap once

    async def delete_user(self: Any, user: Any) -> None:
        await edge.disable_user(user, log=self.log)
        result = base.delete_user(self, user)
        if inspect.isawaitable(result):
            await result

    name = f"{base.__name__}WithEdgeKeys"
    return type(name, (base,), {"delete_user": delete_user, "_edge_keys": edge,
                                "__module__": __name__, "__qualname__": name,
                                "__doc__": f"{base.__name__}; removing a user disables their "
                                           "OpenRouter key (edge_jupyter.hub)."})
