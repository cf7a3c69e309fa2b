"""Every setting edge_jupyter reads from the environment, in one place.

Settings are read when asked for, not at import time, so a notebook can change
``os.environ`` (or a test can point at a sandbox) and the next call sees it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ORIGIN = "https://openrouter.ai"

#: Sent on every request so that OpenRouter attributes the traffic to this app.
APP_URL = "https://github.com/edge-jupyter/edge_jupyter"
APP_TITLE = "edge_jupyter"


@dataclass(frozen=True)
class Settings:
    """A snapshot of the environment-driven settings."""

    origin: str
    env_api_key: str | None
    data_dir: Path

    @property
    def api_base(self) -> str:
        """The REST API root, ``{origin}/api/v1``."""
        return f"{self.origin}/api/v1"

    @property
    def auth_page(self) -> str:
        """The OAuth consent page, ``{origin}/auth``."""
        return f"{self.origin}/auth"

    def __repr__(self) -> str:  # never show the key
        key = "set" if self.env_api_key else "unset"
        return f"Settings(origin={self.origin!r}, OPENROUTER_API_KEY={key}, data_dir='{self.data_dir}')"


def normalise_origin(url: str) -> str:
    """``https://openrouter.ai/`` and ``https://openrouter.ai/api/v1`` both mean the origin."""
    url = url.strip().rstrip("/")
    if url.endswith("/api/v1"):
        url = url[: -len("/api/v1")]
    return url


def default_data_dir() -> Path:
    import platformdirs  # small, but only needed when no EDGE_DATA_DIR is set

    return Path(platformdirs.user_data_dir("edge_jupyter", appauthor=False))


def current() -> Settings:
    """Read the settings from the environment now."""
    origin = normalise_origin(os.environ.get("EDGE_OPENROUTER_URL") or DEFAULT_ORIGIN)
    key = os.environ.get("OPENROUTER_API_KEY") or None
    data = os.environ.get("EDGE_DATA_DIR")
    data_dir = Path(data).expanduser() if data else default_data_dir()
    return Settings(origin=origin, env_api_key=key, data_dir=data_dir)


def attribution_headers() -> dict[str, str]:
    """App attribution headers (OpenRouter needs the title for localhost referers too)."""
    return {"HTTP-Referer": APP_URL, "X-Title": APP_TITLE, "X-OpenRouter-Title": APP_TITLE}
