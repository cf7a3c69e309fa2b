"""The addresses of the OAuth dance (pure functions: no tornado, no I/O).

The callback URL must be this server's address *as the browser sees it*, which is
not always what the server sees:

1. ``EdgeExtensionApp.public_url``, when configured, wins: it is the address at
   which a browser reaches this server's ``base_url`` (for example
   ``https://hub.example.org/user/alice/``).  Given with no path, the server's
   public path (below) is appended.
2. Under JupyterHub with ``c.JupyterHub.public_url`` set, the hub passes
   ``JUPYTERHUB_PUBLIC_URL`` (scheme and host are taken from it) and
   ``JUPYTERHUB_SERVICE_PREFIX`` (``/user/alice/``, hub base path included).
3. Otherwise the request's own scheme and ``Host``: right behind a proxy that keeps
   the Host header and sets ``X-Forwarded-Proto``, provided the server trusts it
   (``ServerApp.trust_xheaders = True``; jupyterhub-singleuser does).

The path is ``JUPYTERHUB_SERVICE_PREFIX`` when set, else the server's ``base_url``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import quote, urlencode, urlsplit

from ..settings import DEFAULT_ORIGIN, normalise_origin

CALLBACK_PATH = "edge/oauth/callback"
CONNECT_PATH = "edge/connect"
#: OpenRouter's own rule for callback URLs: https, or localhost / 127.0.0.1 on any port.
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


def _slashed(path: str) -> str:
    path = "/" + path.strip("/")
    return path if path == "/" else path + "/"


def public_path(base_url: str, environ: Mapping[str, str] | None = None) -> str:
    """The path prefix browsers use for this server, always with slashes at both ends."""
    env = os.environ if environ is None else environ
    return _slashed(env.get("JUPYTERHUB_SERVICE_PREFIX") or base_url or "/")


def public_base(
    *,
    base_url: str,
    request_protocol: str,
    request_host: str,
    configured: str = "",
    environ: Mapping[str, str] | None = None,
) -> str:
    """The absolute address of ``base_url`` as the browser sees it, ending with ``/``."""
    env = os.environ if environ is None else environ
    path = public_path(base_url, env)
    if configured.strip():
        parts = urlsplit(configured.strip())
        if not parts.scheme or not parts.netloc:
            raise ValueError(
                f"EdgeExtensionApp.public_url must be an absolute URL such as "
                f"https://hub.example.org/user/alice/, not {configured!r}")
        own_path = parts.path if parts.path not in ("", "/") else path
        return f"{parts.scheme}://{parts.netloc}{_slashed(own_path)}"
    hub = env.get("JUPYTERHUB_PUBLIC_URL") or ""
    if hub and env.get("JUPYTERHUB_SERVICE_PREFIX"):
        parts = urlsplit(hub)
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}{path}"
    return f"{request_protocol}://{request_host}{path}"


def callback_url(public_base_url: str, flow_id: str) -> str:
    return f"{public_base_url}{CALLBACK_PATH}/{quote(flow_id, safe='')}"


def callback_problem(url: str, origin: str) -> str | None:
    """Why the real OpenRouter would refuse this callback, or None when it is fine.

    Only checked against openrouter.ai, whose rule is documented; a sandbox or a
    self-hosted origin may accept anything.
    """
    if normalise_origin(origin) != DEFAULT_ORIGIN:
        return None
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.hostname or "") in {h.strip("[]") for h in LOCAL_HOSTS}:
        return None
    return (f"OpenRouter only sends you back to https addresses or to localhost, and this "
            f"server's address is {parts.scheme}://{parts.netloc}.")


def authorize_url(origin: str, callback: str, challenge: str, limit: float | None = None) -> str:
    """``{origin}/auth?callback_url=…&code_challenge=…&code_challenge_method=S256[&limit=]``."""
    params: dict[str, str] = {"callback_url": callback, "code_challenge": challenge,
                              "code_challenge_method": "S256"}
    if limit is not None:
        params["limit"] = format_limit(limit)
    return f"{normalise_origin(origin)}/auth?{urlencode(params)}"


def parse_limit(raw: str | None) -> float | None:
    """``?limit=USD``: a finite, non-negative number of dollars, or None when absent.

    Raises ValueError with a sentence for the error page.
    """
    from ..user_numbers import USD, NumberError  # the check every typed USD figure gets

    if raw is None or raw.strip() == "":
        return None
    try:
        return float(USD.read(raw, "The limit"))
    except NumberError as exc:
        raise ValueError(f"{exc} (such as 5 or 2.50).") from None


def format_limit(value: float) -> str:
    """``5.0`` → ``"5"``, ``2.5`` → ``"2.5"`` (what OpenRouter's own SDK sends)."""
    return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
