"""edge_jupyter's own opt-in store: one JSON file, mode 0600, under EDGE_DATA_DIR."""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path

from .. import settings
from ._errors import KeyStoreError

FILE_NAME = "keys.json"


def file_path() -> Path:
    return settings.current().data_dir / FILE_NAME


class FileKeyStore:
    """edge_jupyter's own opt-in store: one JSON file, mode 0600, under EDGE_DATA_DIR.

    Deliberately *not* a ``keyring`` backend: defining a ``KeyringBackend`` subclass
    registers it with keyring, which would then pick it for every program in the process.
    The file is unencrypted; the user asked for that with ``EDGE_KEY_STORE=file``.
    """

    name = "edge_jupyter file store"

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or file_path()

    def _read(self) -> dict[str, str]:
        try:
            with self.path.open(encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise KeyStoreError(
                f"The key file {self.path} cannot be read ({type(exc).__name__}). "
                "Delete it and connect again.") from None
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _write(self, data: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        # Created 0600 from the first byte (not chmod-ed afterwards), then renamed over.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)  # O_CREAT ignores the mode of an existing leftover file
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def get(self, username: str) -> str | None:
        return self._read().get(username) or None

    def set(self, username: str, secret: str) -> None:
        data = self._read()
        data[username] = secret
        self._write(data)

    def delete(self, username: str) -> bool:
        data = self._read()
        if username not in data:
            return False
        del data[username]
        if data:
            self._write(data)
        else:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        return True

    def mode(self) -> int | None:
        """The file's permission bits (None when there is no file)."""
        try:
            return stat.S_IMODE(self.path.stat().st_mode)
        except FileNotFoundError:
            return None
