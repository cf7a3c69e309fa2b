"""One-time OAuth flows kept in server memory (pure logic: no tornado, no I/O).

A flow is born when the browser opens ``edge/connect``: a PKCE verifier that never
leaves the server, and a random flow id that goes into the callback *path*
(OpenRouter documents no ``state`` parameter, so the path carries it).  The callback
pops the flow: a second use, an unknown id or an id older than the TTL is refused.

A *watch* is what the kernel polls to learn how a flow ended.  The kernel picks a
random watch id, puts it in the connect link, and asks ``edge/api/connect/<watch>``
until it reads "connected" or "error".  Watches only ever hold a state and a
human-readable message, never a secret.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import pkce
from ..errors import EdgeError

#: The code OpenRouter hands out lives 10 minutes; a flow older than that is useless.
DEFAULT_TTL = 600.0
#: Bounds memory if someone reloads the connect page in a loop.
MAX_FLOWS = 64
MAX_WATCHES = 256
#: Flow ids and watch ids: URL-safe, 16-64 characters (the route pattern enforces it).
ID_PATTERN = r"[A-Za-z0-9_-]{16,64}"


class FlowError(EdgeError):
    """The callback's flow id cannot be used; ``reason`` is "unknown", "used" or "expired"."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Flow:
    """One sign-in attempt.  ``repr`` leaves the verifier out."""

    flow_id: str
    verifier: str = field(repr=False)
    created: float
    expires: float
    limit: float | None = None
    watch_id: str | None = None

    @property
    def challenge(self) -> str:
        return pkce.challenge_for(self.verifier)


@dataclass
class WatchState:
    """What the kernel sees: "pending", "connected" or "error", with a sentence for people."""

    state: str = "pending"
    message: str = ""
    detail: dict[str, object] = field(default_factory=dict)
    expires: float = 0.0

    def as_json(self) -> dict[str, object]:
        return {"state": self.state, "message": self.message, **self.detail}


class FlowStore:
    """Thread-safe map ``flow_id -> Flow`` with one-time use and expiry.

    ``clock`` is injectable so tests can age flows without sleeping.
    """

    def __init__(self, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._flows: OrderedDict[str, Flow] = OrderedDict()
        #: Ids already used or expired, kept for a TTL so the error page can say which.
        self._spent: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._watches: OrderedDict[str, WatchState] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            self._prune()
            return len(self._flows)

    def _prune(self) -> None:
        now = self._clock()
        for flow_id in [f for f, flow in self._flows.items() if flow.expires <= now]:
            del self._flows[flow_id]
            self._spent[flow_id] = ("expired", now + self.ttl)
        for flow_id in [f for f, (_r, until) in self._spent.items() if until <= now]:
            del self._spent[flow_id]
        for watch_id in [w for w, s in self._watches.items() if s.expires <= now]:
            del self._watches[watch_id]
        while len(self._spent) > 4 * MAX_FLOWS:
            self._spent.popitem(last=False)

    def create(self, limit: float | None = None, watch_id: str | None = None) -> Flow:
        """A new flow with a fresh verifier; the oldest flows go when there are too many."""
        now = self._clock()
        flow = Flow(flow_id=secrets.token_urlsafe(24), verifier=pkce.new_verifier(),
                    created=now, expires=now + self.ttl, limit=limit, watch_id=watch_id)
        with self._lock:
            self._prune()
            while len(self._flows) >= MAX_FLOWS:
                old_id, _old = self._flows.popitem(last=False)
                self._spent[old_id] = ("expired", now + self.ttl)
            self._flows[flow.flow_id] = flow
            if watch_id:
                self._set_watch(watch_id, WatchState("pending", "Waiting for approval on OpenRouter."))
        return flow

    def pop(self, flow_id: str) -> Flow:
        """Take a flow out for its one use; raises FlowError when it cannot be used."""
        now = self._clock()
        with self._lock:
            flow = self._flows.pop(flow_id, None)
            if flow is None:
                self._prune()
                reason = self._spent.get(flow_id, ("unknown", 0.0))[0]
                raise FlowError(reason)
            self._spent[flow_id] = ("used", now + self.ttl)
            if flow.expires <= now:
                self._spent[flow_id] = ("expired", now + self.ttl)
                raise FlowError("expired")
            return flow

    # -- watches ----------------------------------------------------------------------------------

    def _set_watch(self, watch_id: str, state: WatchState) -> None:
        state.expires = self._clock() + 2 * self.ttl
        self._watches[watch_id] = state
        self._watches.move_to_end(watch_id)
        while len(self._watches) > MAX_WATCHES:
            self._watches.popitem(last=False)

    def set_watch(self, watch_id: str | None, state: str, message: str,
                  **detail: object) -> None:
        """Record how the flow watched by ``watch_id`` ended (no-op without a watch id)."""
        if not watch_id:
            return
        with self._lock:
            self._set_watch(watch_id, WatchState(state, message, dict(detail)))

    def watch(self, watch_id: str) -> WatchState | None:
        with self._lock:
            self._prune()
            return self._watches.get(watch_id)
