"""The :class:`Sandbox` facade: start/stop the server, tune it, inspect what happened.

Runtime knobs are plain attributes (``sb.tokens_per_second = 50``) read by the
handler threads on every use, so a test or a demo can change them while a
stream is running. State that must stay consistent (money, keys, records)
lives behind locks in ``Accounts`` and here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from ._accounts import Accounts
from ._batches import BatchStore
from ._caches import Caches
from ._clock import iso
from ._faults import Fault, FaultQueue
from ._http import SandboxHTTPServer
from ._records import CompletionRecord, RecordedRequest
from ._routes import Handler
from ._routing import names as routing_names
from ._tools import checked_steps

#: Attributes that ``configure`` / ``POST /_sandbox/config`` may change.
_CONFIG: dict[str, tuple[type, ...]] = {
    "tokens_per_second": (int, float),
    "answer_length": (int,),
    "generation_ready_after": (int, float),
    "line_ending": (str,),
    "write_chunk_bytes": (int, type(None)),
    "code_ttl": (int, float),
    "credits": (int, float),
    "byok_providers": (list, tuple, set, frozenset),
    "down_providers": (list, tuple, set, frozenset),
    "batch_seconds_per_status": (int, float),
    "batch_hold": (bool,),
    "models_page_size": (int, type(None)),
    "keys_page_size": (int,),
}


class Sandbox:
    """An OpenRouter-compatible HTTP server on localhost, for demos and tests.

    >>> with Sandbox() as sb:                       # doctest: +SKIP
    ...     openai.OpenAI(base_url=sb.api_url, api_key=sb.key)
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        key: str | None = None,
        tokens_per_second: float = 0.0,
        answer_length: int = 24,
        generation_ready_after: float = 0.5,
        credits: float = 100.0,
        byok_providers: Iterable[str] | str = (),
        down_providers: Iterable[str] | str = (),
    ) -> None:
        self.host = host
        self.port = port
        self._defaults: dict[str, Any] = {
            "tokens_per_second": tokens_per_second,
            "answer_length": answer_length,
            "generation_ready_after": generation_ready_after,
            "line_ending": "\n",
            "write_chunk_bytes": None,
            "code_ttl": 600.0,
            "byok_providers": routing_names(byok_providers),
            "down_providers": routing_names(down_providers),
            "catalogue_down": False,
            "models_page_size": None,
            "keys_page_size": 100,
            "batch_seconds_per_status": 0.05,
            "batch_hold": False,
            "batch_lose_answer": False,
        }
        #: Token pace of streams (and the duration of non-streams); 0 = as fast as possible.
        self.tokens_per_second = tokens_per_second
        #: Answer length in tokens when a request has no ``[sandbox:tokens=N]`` directive.
        self.answer_length = answer_length
        #: Seconds after a completion ends before ``/generation`` finds it.
        self.generation_ready_after = generation_ready_after
        #: SSE line ending: ``"\n"`` (as OpenRouter) or ``"\r\n"`` (to test parsers).
        self.line_ending = "\n"
        #: Split every body write into chunks of this many bytes (``None``: no splitting).
        self.write_chunk_bytes: int | None = None
        #: Lifetime of PKCE authorization codes, in seconds (OpenRouter: 10 minutes).
        self.code_ttl = 600.0
        #: When True, ``/models`` and ``/models/{author}/{slug}/endpoints`` answer 503 while
        #: completions still work: a client that prices calls from them must then fail closed.
        self.catalogue_down = False
        #: ``/models`` page size (None: one page, as OpenRouter today); each page then links
        #: the next (``links.next``) and every page carries ``total_count``. ``?limit=&offset=``
        #: pages a request whatever this says.
        self.models_page_size: int | None = None
        #: ``GET /keys`` page size (OpenRouter: 100), small in a test of paging by ``offset``.
        self.keys_page_size = 100
        #: Batch API (``_batches``): seconds each status lasts (validating, in progress,
        #: finalizing); ``batch_hold = True`` keeps every batch in progress until set back.
        self.batch_seconds_per_status = 0.05
        self.batch_hold = False
        #: The next batch created is accepted but its answer is lost (the connection drops
        #: before it): what a client must not take for "nothing was sent".
        self.batch_lose_answer = False
        self.batches = BatchStore()
        self._byok: frozenset[str] = self._defaults["byok_providers"]
        self._down: frozenset[str] = self._defaults["down_providers"]
        self.accounts = Accounts(credits)
        #: The main API key (pass ``key=`` to choose it).
        self.key = self.accounts.add_key(key)
        #: A management key: can read ``/credits`` and manage keys (``/keys``), cannot run
        #: completions.
        self.management_key = self.accounts.add_key(management=True, name="Sandbox management key")
        self.faults = FaultQueue()
        #: OpenRouter's response cache and the providers' prompt caches (``_caches``)
        self.caches = Caches()
        self._cond = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._completions: list[CompletionRecord] = []
        #: the reasoning_details of every reasoning answer sent (canonical JSON), and each
        #: check of those a request sent back (True: unmodified): see ``_completions``
        self.reasoning_details_sent: set[str] = set()
        self.reasoning_details_checked: list[bool] = []
        #: ``script_tools`` steps not served yet (each a list of (name, arguments) calls)
        self._tool_steps: list[list[tuple[str, dict[str, Any]]]] = []
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:  # never the keys
        state = self.url if self._server else "stopped"
        return f"<Sandbox {state}>"

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> Sandbox:
        """Bind and serve in a daemon thread; returns ``self``."""
        if self._server is not None:
            return self
        server = SandboxHTTPServer((self.host, self.port), Handler, self)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"edge-jupyter-sandbox:{self.port}", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close open connections (streams in flight end as cancelled)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def server_stopping(self) -> bool:
        """True once :meth:`stop` began; running streams give up."""
        return self._server is None or self._server.stopping

    @property
    def url(self) -> str:
        """The origin, e.g. ``http://127.0.0.1:54321`` (the OAuth page is ``url + "/auth"``)."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The API root, ``url + "/api/v1"`` (the ``base_url`` for the openai SDK)."""
        return self.url + "/api/v1"

    # -- routing ------------------------------------------------------------------------------
    @property
    def byok_providers(self) -> frozenset[str]:
        """Providers whose key the user "stored" in OpenRouter (slugs, tags or display names).

        Calls routed to them are tried first (whatever ``provider.order`` says) and billed
        as BYOK: ``usage.cost`` is OpenRouter's 5 % fee, ``upstream_inference_cost`` the
        full price the provider bills directly. ``sb.byok_providers = {"amazon-bedrock"}``.
        """
        return self._byok

    @byok_providers.setter
    def byok_providers(self, value: Iterable[str] | str) -> None:
        self._byok = routing_names(value)

    @property
    def down_providers(self) -> frozenset[str]:
        """Providers that fail every call (502): routing falls back to the next endpoint,
        then to the ``models`` fallbacks, unless ``allow_fallbacks`` is false."""
        return self._down

    @down_providers.setter
    def down_providers(self, value: Iterable[str] | str) -> None:
        self._down = routing_names(value)

    # -- faults, keys, money -------------------------------------------------------------
    def inject(self, fault: Fault) -> None:
        """Queue ``fault`` for the next chat completion request(s)."""
        self.faults.push(fault)

    def clear_faults(self) -> None:
        """Drop every pending fault."""
        self.faults.clear()

    def revoke(self, key: str) -> None:
        """From now on ``key`` gets 401 ``User not found``."""
        self.accounts.revoke(key)

    def issue_key(self, limit: float | None = None) -> str:
        """Create another valid API key, optionally capped at ``limit`` USD."""
        return self.accounts.add_key(limit=limit)

    def advance_clock(self, days: float = 1) -> str:
        """Move the sandbox's billing clock ``days`` forward (real UTC + an offset): key
        limits with a reset period start a new window at 00:00 UTC, ``/activity`` reports a
        day once it is over, keys expire. ``reset()`` returns to real time. Returns the new
        "now" (ISO 8601)."""
        return iso(self.accounts.clock.advance(days)) or ""

    @property
    def now(self) -> datetime:
        """The sandbox's billing clock (timezone-aware UTC)."""
        return self.accounts.clock.now()

    @property
    def credits(self) -> float:
        """Total credits bought (USD); set it to simulate a low balance."""
        return float(self.accounts.total_credits)

    @credits.setter
    def credits(self, value: float) -> None:
        self.accounts.total_credits = Decimal(str(value))

    @property
    def credits_used(self) -> float:
        """USD charged so far (the sum of every completion's ``usage.cost``)."""
        return float(self.accounts.total_usage)

    # -- scripted tool calls ---------------------------------------------------------------
    def script_tools(self, steps: list[list[tuple[str, dict[str, Any]]]]) -> None:
        """Queue tool-call steps: each chat request that offers function ``tools`` takes the
        first step and answers with its calls (``finish_reason: "tool_calls"``); an empty
        step, or an empty queue, gives a normal answer. Replaces what was queued.

        >>> sb.script_tools([[("get_weather", {"city": "Paris"})], []])   # doctest: +SKIP
        """
        checked = checked_steps(steps)
        with self._cond:
            self._tool_steps = checked

    @property
    def tool_steps(self) -> list[list[tuple[str, dict[str, Any]]]]:
        """The scripted steps not served yet (a copy)."""
        with self._cond:
            return [list(step) for step in self._tool_steps]

    def next_tool_step(self) -> list[tuple[str, dict[str, Any]]] | None:
        """The first scripted step (None when the queue is empty), left in the queue."""
        with self._cond:
            return list(self._tool_steps[0]) if self._tool_steps else None

    def take_tool_step(self) -> None:
        """Drop the first scripted step: a request was served with it."""
        with self._cond:
            if self._tool_steps:
                self._tool_steps.pop(0)

    # -- records ------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, oldest first (a snapshot copy)."""
        with self._cond:
            return list(self._requests)

    @property
    def completions(self) -> list[CompletionRecord]:
        """Every finished chat completion, oldest first (a snapshot copy)."""
        with self._cond:
            return list(self._completions)

    def wait_for_completions(self, count: int, timeout: float = 5.0) -> list[CompletionRecord]:
        """Block until at least ``count`` completions are recorded (streams end asynchronously)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._completions) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self._completions)} of {count} completions after {timeout}s")
                self._cond.wait(left)
            return list(self._completions)

    def _record_request(self, rec: RecordedRequest) -> None:
        with self._cond:
            self._requests.append(rec)

    def _record_completion(self, rec: CompletionRecord) -> None:
        with self._cond:
            self._completions.append(rec)
            self._cond.notify_all()

    def reset(self) -> None:
        """Back to the state just after construction, except that issued keys stay valid.

        Forgets requests, completions, faults, scripted tool steps, auth codes and generations;
        deletes the keys made through ``POST /keys``, zeroes every other key's usage and
        restores its settings (limit, reset, name, disabled); sets the billing clock back
        to real time; restores the balance and every knob (pacing,
        length, readiness, line ending, write size, code lifetime, BYOK and down
        providers) to the constructor's values; makes ``key`` and
        ``management_key`` usable again if a test revoked them. One shared sandbox can then serve many tests.
        """
        self.faults.clear()
        self.caches.clear()
        self.accounts.reset(keep_valid=(self.key, self.management_key))
        for name, value in self._defaults.items():
            setattr(self, name, value)
        with self._cond:
            self._requests.clear()
            self._completions.clear()
            self.reasoning_details_sent.clear()
            self.reasoning_details_checked.clear()
            self._tool_steps.clear()
        self.batches.clear()

    # -- configuration (also the HTTP control API) -------------------------------------------
    def configure(self, **values: Any) -> None:
        """Set several knobs at once, type-checked (used by ``POST /_sandbox/config``)."""
        for name, value in values.items():
            kinds = _CONFIG.get(name)
            if kinds is None:
                raise ValueError(f"unknown setting {name!r}; known: {', '.join(_CONFIG)}")
            if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
                raise TypeError(f"{name} has the wrong type")
            if isinstance(value, list | tuple | set | frozenset) and not all(isinstance(v, str) for v in value):
                raise TypeError(f"{name} must list provider names")
            if name == "line_ending" and value not in ("\n", "\r\n"):
                raise ValueError("line_ending must be '\\n' or '\\r\\n'")
            if isinstance(value, int | float) and value < 0:
                raise ValueError(f"{name} must not be negative")
        for name, value in values.items():
            setattr(self, name, value)

    def config(self) -> dict[str, Any]:
        """The current knob values (provider sets as sorted lists, so they serialise)."""
        values = {name: getattr(self, name) for name in _CONFIG}
        return {k: sorted(v) if isinstance(v, frozenset) else v for k, v in values.items()}

    def stats(self) -> dict[str, Any]:
        """Counters for ``GET /_sandbox/stats``."""
        with self._cond:
            return {"requests": len(self._requests), "completions": len(self._completions),
                    "credits_used": self.credits_used}
