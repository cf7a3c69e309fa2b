"""When a pending row is abandoned: its process is gone (or it is too old to be running).

The ledger reconciles such rows (``Ledger.reconcile``); these helpers only decide.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta

#: A pending row whose writer cannot be checked (another host, Windows without psutil)
#: is taken as abandoned after this long; no stream runs that long.
PENDING_STALE_AFTER = timedelta(hours=1)

HOST = socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` on this host still runs (True when it cannot be told)."""
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT on Windows
        try:
            import psutil
        except ImportError:
            return True
        return bool(psutil.pid_exists(pid))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, under another user
        return True
    try:  # a zombie answers signals but will never finish its row
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def is_stale(pid: int | None, host: str, updated_at_us: int, now_us: int) -> bool:
    """Whether a pending row was left behind by a process that is gone."""
    if host == HOST and pid:
        return pid != os.getpid() and not pid_alive(pid)
    return now_us - updated_at_us > PENDING_STALE_AFTER / timedelta(microseconds=1)
