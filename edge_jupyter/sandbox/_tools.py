"""Function tools and web search for the sandbox (standard library only).

What a request offers is read and checked here (``tools`` as ``ChatFunctionTool`` entries
and the ``openrouter:web_search`` server tool, ``tool_choice``, ``parallel_tool_calls``, the
legacy ``web`` plugin and the ``:online`` model suffix), and so is the history (every
assistant ``tool_calls`` id answered by one ``tool`` message, no answer to an id never
called). Then :func:`plan_tools` decides the turn:

- a *tool-call step*: the calls of a scripted step (``Sandbox.script_tools``), or those a
  ``[sandbox:tools=N]`` directive asks for (``[sandbox:parallel=K]`` calls per step, the
  arguments built from each tool's JSON schema), or one forced by ``tool_choice``;
- else a *final answer*, which begins with ``Tool results: ...`` when tool messages follow
  the last user message (so a test sees the results reached the model), and runs the web
  searches the request asked for (``[sandbox:searches=S]``, capped by ``max_uses``): their
  citations (``url_citation`` annotations) and a ``[n]`` marker for each in the text.

Searches are OpenRouter's own charge, per search: the model's ``pricing.web_search`` when
above zero, else the engine's documented price (unknown: the dearest, on the safe side).
"""

from __future__ import annotations

import json
import math
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ._catalog import CatalogEndpoint, CatalogModel
from ._errors import ApiError
from ._text import message_text, tokens_of

WEB_SEARCH_TOOL = "openrouter:web_search"
ONLINE_SUFFIX = ":online"
ENGINES = ("auto", "native", "exa", "parallel", "firecrawl", "perplexity")
#: USD per search of the engines OpenRouter documents; any other costs the dearest.
ENGINE_USD: Mapping[str, Decimal] = {"exa": Decimal("0.007"), "perplexity": Decimal("0.005"),
                                     "parallel": Decimal("0.005"), "firecrawl": Decimal("0.007")}
UNKNOWN_ENGINE_USD = Decimal("0.007")
#: Citations per search: ``min(max_results or 5, 3)`` (few: answers stay short).
CITATIONS_PER_SEARCH = 3
DEFAULT_MAX_RESULTS = 5
#: The first characters of each tool result the final answer quotes.
RESULT_QUOTE = 200
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TOOLS = re.compile(r"\[sandbox:tools=(\d{1,3})\]")
_PARALLEL = re.compile(r"\[sandbox:parallel=(\d{1,2})\]")
_SEARCHES = re.compile(r"\[sandbox:searches=(\d{1,2})\]")
_WORD = re.compile(r"[a-z]{3,}")
#: Piece sizes (characters) streamed arguments are cut into, in turn: 1 to 7.
_PIECES = (3, 1, 7, 2, 5, 4, 6)


def _bad(where: str, detail: str) -> ApiError:
    return ApiError(400, f"Invalid request parameters: {where}: {detail}")


def _positive(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _bad(where, "must be a positive integer")
    return value


@dataclass(frozen=True)
class WebAsk:
    """A web search the request asked for (server tool, ``web`` plugin or ``:online``)."""

    engine: str = "auto"
    max_results: int | None = None
    max_uses: int | None = None


@dataclass(frozen=True)
class Offered:
    """What a request offers: its function tools (``function`` bodies, in order) and search."""

    functions: tuple[dict[str, Any], ...] = ()
    web: WebAsk | None = None
    choice: Any = None
    parallel: bool = True
    #: The body's ``model`` without ``:online`` (None: it had no suffix).
    model: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f["name"] for f in self.functions)


@dataclass(frozen=True)
class PlannedCall:
    """One tool call the sandbox makes: sent as ``ChatToolCall`` / ``ChatStreamToolCall``."""

    id: str
    name: str
    arguments: str

    def wire(self) -> dict[str, Any]:
        """``{"id", "type": "function", "function": {"name", "arguments"}}``."""
        return {"id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": self.arguments}}

    def record(self) -> dict[str, Any]:
        """``{"id", "name", "arguments"}`` for ``CompletionRecord.tool_calls``."""
        return {"id": self.id, "name": self.name, "arguments": self.arguments}

    @property
    def tokens(self) -> int:
        """Completion tokens the call is billed as: the tokens of its arguments (at least 1)."""
        return max(1, len(tokens_of(self.arguments)))


@dataclass(frozen=True)
class ToolTurn:
    """The turn :func:`plan_tools` decided."""

    calls: tuple[PlannedCall, ...] = ()
    #: True when the calls came from ``Sandbox.script_tools`` (its queue is popped once served).
    scripted: bool = False
    #: Tokens the final answer opens with (tool results, search markers).
    lead: tuple[str, ...] = ()
    searches: int = 0
    engine: str | None = None
    #: ``url_citation`` annotations, nested shape, indices into the answer text.
    citations: tuple[dict[str, Any], ...] = ()
    search_usd: Decimal = Decimal(0)

    @property
    def server_tool_use(self) -> dict[str, int] | None:
        """``usage.server_tool_use_details`` (None without searches)."""
        if not self.searches:
            return None
        n = self.searches
        return {"web_search_requests": n, "tool_calls_requested": n, "tool_calls_executed": n}


# -- what the request offers ----------------------------------------------------------------
def _function(entry: Mapping[str, Any], where: str) -> dict[str, Any]:
    fn = entry.get("function")
    if not isinstance(fn, Mapping):
        raise _bad(where + ".function", "required, an object with a name")
    name = fn.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise _bad(where + ".function.name",
                   "1 to 64 characters among a-z, A-Z, 0-9, underscores and dashes")
    if "description" in fn and not isinstance(fn["description"], str):
        raise _bad(where + ".function.description", "must be a string")
    params = fn.get("parameters", {})
    if not isinstance(params, Mapping):
        raise _bad(where + ".function.parameters", "must be a JSON Schema object")
    if fn.get("strict") is not None and not isinstance(fn["strict"], bool):
        raise _bad(where + ".function.strict", "must be a boolean")
    return {"name": name, "description": fn.get("description", ""), "parameters": dict(params)}


def _web_config(config: Any, where: str) -> WebAsk:
    if config is None:
        return WebAsk()
    if not isinstance(config, Mapping):
        raise _bad(where, "must be an object")
    engine = config.get("engine", "auto")
    if engine is None:
        engine = "auto"
    if engine not in ENGINES:
        raise _bad(where + ".engine", f"expected one of {', '.join(ENGINES)}")
    return WebAsk(engine, _positive(config.get("max_results"), where + ".max_results"),
                  _positive(config.get("max_uses"), where + ".max_uses"))


def _web_plugin(body: Mapping[str, Any]) -> WebAsk | None:
    """The legacy ``plugins: [{"id": "web"}]`` (``_media`` checks the plugin list's shape)."""
    plugins = body.get("plugins")
    if not isinstance(plugins, list):
        return None
    for i, plugin in enumerate(plugins):
        if isinstance(plugin, Mapping) and plugin.get("id") == "web" and plugin.get("enabled", True) is not False:
            return _web_config({k: plugin.get(k) for k in ("engine", "max_results", "max_uses")},
                               f"plugins[{i}]")
    return None


def _choice(choice: Any, names: Sequence[str]) -> Any:
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, Mapping) else None
        if not isinstance(name, str):
            raise _bad("tool_choice.function.name", "required, a string")
        if name not in names:
            raise _bad("tool_choice.function.name", f"{name!r} is not one of the tools offered")
        return {"type": "function", "function": {"name": name}}
    raise _bad("tool_choice", 'expected "auto", "none", "required" or '
                              '{"type": "function", "function": {"name": ...}}')


def read_offered(body: Mapping[str, Any]) -> Offered:
    """The tools, tool choice and web search of a body; a malformed one is a 400 naming the
    entry (``tools[2].function.name: ...``)."""
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise _bad("tools", "must be an array")
    functions: list[dict[str, Any]] = []
    web: WebAsk | None = None
    for i, entry in enumerate(tools or []):
        where = f"tools[{i}]"
        if not isinstance(entry, Mapping):
            raise _bad(where, "a tool must be an object with a type")
        kind = entry.get("type")
        if kind == "function":
            fn = _function(entry, where)
            if fn["name"] in (f["name"] for f in functions):
                raise _bad(where + ".function.name", f"{fn['name']!r} is offered twice")
            functions.append(fn)
        elif kind == WEB_SEARCH_TOOL:
            web = _web_config(entry.get("parameters"), where + ".parameters")
        else:
            raise _bad(where + ".type", f"the sandbox serves \"function\" and \"{WEB_SEARCH_TOOL}\" "
                                        f"tools, not {kind!r}")
    names = [f["name"] for f in functions]
    choice = _choice(body.get("tool_choice"), names)
    parallel = body.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise _bad("parallel_tool_calls", "must be a boolean")
    web = web or _web_plugin(body)
    model = body.get("model")
    bare = None
    if isinstance(model, str) and model.endswith(ONLINE_SUFFIX):
        bare = model[: -len(ONLINE_SUFFIX)]
        web = web or WebAsk()
    return Offered(tuple(functions), web, choice, parallel is not False, bare)


def check_support(model: CatalogModel, body: Mapping[str, Any]) -> None:
    """404 as OpenRouter words it when the model cannot take the ``tools`` it is offered
    (function tools or the web-search server tool; the ``web`` plugin needs no tool use)."""
    if body.get("tools") and "tools" not in model.supported_parameters:
        raise ApiError(404, "No endpoints found that support tool use", typed=False)


def prompt_tokens(body: Mapping[str, Any], messages: Sequence[Mapping[str, Any]]) -> int:
    """Prompt tokens of the tool definitions and of the history's tool calls (4 characters
    a token, compact JSON): a chat template sends them to the model too."""
    chars = 0
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        chars += len(json.dumps(tools, ensure_ascii=False, separators=(",", ":")))
    for message in messages:
        calls = message.get("tool_calls")
        if calls:
            chars += len(json.dumps(calls, ensure_ascii=False, separators=(",", ":")))
    return math.ceil(chars / 4)


# -- the history ------------------------------------------------------------------------------
def _call_ids(message: Mapping[str, Any], m: int) -> list[str]:
    calls = message.get("tool_calls")
    if calls is None:
        return []
    if not isinstance(calls, list):
        raise _bad(f"messages[{m}].tool_calls", "must be an array")
    ids = []
    for j, call in enumerate(calls):
        where = f"messages[{m}].tool_calls[{j}]"
        fn = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(call, Mapping) or not isinstance(call.get("id"), str) or not call["id"]:
            raise _bad(where, "a tool call needs an id, a type and a function")
        if call.get("type", "function") != "function" or not isinstance(fn, Mapping) \
                or not isinstance(fn.get("name"), str) or not isinstance(fn.get("arguments"), str):
            raise _bad(where, 'expected {"type": "function", "function": {"name": str, "arguments": str}}')
        ids.append(call["id"])
    return ids


def check_history(messages: Sequence[Mapping[str, Any]]) -> None:
    """Every assistant ``tool_calls`` id is answered by one ``tool`` message before the next
    other message; a ``tool`` message answers an id that was called and is still open."""
    pending: list[str] = []
    called: set[str] = set()
    for m, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            where = f"messages[{m}]"
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str):
                raise _bad(where + ".tool_call_id", "required, a string")
            if not isinstance(message.get("content"), str | list):
                raise _bad(where + ".content", "required, a string (the tool's result)")
            if call_id not in pending:
                why = "was answered already" if call_id in called else "was never called by an assistant message"
                raise _bad(where, f"a tool message answers tool_call_id {call_id!r}, which {why}")
            pending.remove(call_id)
            continue
        if pending:
            raise _bad(f"messages[{m}]", f"tool call {pending[0]!r} has no tool message answering it")
        if role == "assistant":
            pending = _call_ids(message, m)
            called.update(pending)
    if pending:
        raise _bad("messages", f"tool call {pending[0]!r} has no tool message answering it")


# -- the turn -------------------------------------------------------------------------------
def _user_texts(messages: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join(message_text(m) for m in messages if m.get("role") == "user")


def _directive(pattern: re.Pattern[str], text: str) -> int | None:
    found = pattern.search(text)
    return int(found.group(1)) if found else None


def call_id() -> str:
    """``call_<24 hex>``, the shape providers use."""
    return "call_" + secrets.token_hex(12)


def value_for(schema: Any, step: int) -> Any:
    """A value of ``schema`` for step ``step`` (1-based): string "sandbox", integer the step,
    number 1.5, boolean true, enum its first value, array [], object {}."""
    if not isinstance(schema, Mapping):
        return "sandbox"
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            chosen = next((o for o in options if isinstance(o, Mapping) and o.get("type") != "null"),
                          options[0])
            return value_for(chosen, step)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    return {"string": "sandbox", "integer": step, "number": 1.5, "boolean": True,
            "array": [], "object": {}, "null": None}.get(kind, "sandbox")  # type: ignore[arg-type]


def arguments_for(function: Mapping[str, Any], step: int) -> dict[str, Any]:
    """Arguments from a tool's JSON schema: its required properties only."""
    params = function.get("parameters") or {}
    props = params.get("properties") if isinstance(params, Mapping) else None
    required = params.get("required") if isinstance(params, Mapping) else None
    if not isinstance(props, Mapping) or not isinstance(required, list):
        return {}
    return {name: value_for(props.get(name), step) for name in required if isinstance(name, str)}


def _directed_calls(offered: Offered, messages: Sequence[Mapping[str, Any]]) -> list[PlannedCall]:
    texts = _user_texts(messages)
    wanted = _directive(_TOOLS, texts)
    done = sum(1 for m in messages if m.get("role") == "assistant" and m.get("tool_calls"))
    if not wanted or done >= wanted:
        return []
    per_step = max(1, _directive(_PARALLEL, texts) or 1)
    fns = offered.functions
    return [PlannedCall(call_id(), fns[(done * per_step + k) % len(fns)]["name"],
                        json.dumps(arguments_for(fns[(done * per_step + k) % len(fns)], done + 1),
                                   ensure_ascii=False))
            for k in range(per_step)]


def _forced_calls(offered: Offered) -> list[PlannedCall]:
    choice = offered.choice
    if choice == "required":
        fn = offered.functions[0]
    elif isinstance(choice, Mapping):
        fn = next(f for f in offered.functions if f["name"] == choice["function"]["name"])
    else:
        return []
    return [PlannedCall(call_id(), fn["name"], json.dumps(arguments_for(fn, 1), ensure_ascii=False))]


def _results_lead(messages: Sequence[Mapping[str, Any]]) -> str:
    """``Tool results: a; b. `` for the tool messages after the last user message."""
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    results = [message_text(m)[:RESULT_QUOTE] for m in messages[last_user + 1:] if m.get("role") == "tool"]
    return "Tool results: " + "; ".join(results) + ". " if results else ""


def search_price(endpoint: CatalogEndpoint, engine: str) -> Decimal:
    """USD per search: the model's ``pricing.web_search`` when above 0, else the engine's."""
    own = endpoint.web_search_price
    return own if own > 0 else ENGINE_USD.get(engine, UNKNOWN_ENGINE_USD)


def _searches(web: WebAsk, messages: Sequence[Mapping[str, Any]], lead: str, endpoint: CatalogEndpoint,
              markers: bool) -> tuple[str, int, tuple[dict[str, Any], ...], Decimal]:
    texts = _user_texts(messages)
    count = _directive(_SEARCHES, texts)
    count = 1 if count is None else count
    if web.max_uses is not None:
        count = min(count, web.max_uses)
    per_search = min(web.max_results or DEFAULT_MAX_RESULTS, CITATIONS_PER_SEARCH)
    last = next((message_text(m) for m in reversed(messages) if m.get("role") == "user"), "")
    word = next(iter(_WORD.findall(re.sub(r"\[sandbox:[^\]]*\]", " ", last).lower())), "result")
    citations: list[dict[str, Any]] = []
    text = lead + ("Sources:" if markers and count and per_search else "")
    for n in range(1, count * per_search + 1):
        marker = f" [{n}]"
        start = len(text) + 1
        if markers:
            text += marker
        search = (n - 1) // per_search + 1
        citations.append({"type": "url_citation", "url_citation": {
            "url": f"https://example.org/sandbox/{word}-{n}",
            "title": f"Sandbox result {n}: {word}",
            "content": f"A made-up page about {word} (search {search}, result {n}), "
                       "served by the edge_jupyter sandbox.",
            "start_index": start if markers else 0,
            "end_index": start + len(marker) - 1 if markers else 0,
        }})
    if markers and citations:
        text += ". "
    return text, count, tuple(citations), search_price(endpoint, web.engine) * count


def plan_tools(offered: Offered, messages: Sequence[Mapping[str, Any]], endpoint: CatalogEndpoint,
               scripted: Sequence[tuple[str, Mapping[str, Any]]] | None, *,
               plain_text: bool = True) -> ToolTurn:
    """Decide this turn: the calls to make (scripted, then directed, then forced by
    ``tool_choice``), else a final answer with its lead text and searches.

    ``scripted`` is the first step of ``Sandbox.script_tools`` (None: the queue is empty);
    ``plain_text`` is False for a JSON answer (no markers or results text may break it).
    """
    if offered.functions and offered.choice != "none":
        calls: list[PlannedCall] = []
        from_script = scripted is not None
        if scripted is not None:
            calls = [PlannedCall(call_id(), str(name), json.dumps(dict(args), ensure_ascii=False))
                     for name, args in scripted]
        if not calls:
            calls = _directed_calls(offered, messages) or _forced_calls(offered)
        if not offered.parallel:
            calls = calls[:1]
        if calls or from_script:
            if calls:
                return ToolTurn(calls=tuple(calls), scripted=from_script)
            # an empty scripted step: a final answer, and the step is used up
            return _final(offered, messages, endpoint, plain_text, scripted=True)
    return _final(offered, messages, endpoint, plain_text)


def _final(offered: Offered, messages: Sequence[Mapping[str, Any]], endpoint: CatalogEndpoint,
           plain_text: bool, scripted: bool = False) -> ToolTurn:
    lead = _results_lead(messages) if plain_text else ""
    if offered.web is None:
        return ToolTurn(scripted=scripted, lead=tuple(tokens_of(lead)))
    text, count, citations, usd = _searches(offered.web, messages, lead, endpoint, plain_text)
    return ToolTurn(scripted=scripted, lead=tuple(tokens_of(text)), searches=count,
                    engine=offered.web.engine, citations=citations, search_usd=usd)


def cut_calls(calls: Sequence[PlannedCall], budget: int) -> tuple[PlannedCall, ...]:
    """The calls a ``max_tokens`` cap of ``budget`` tokens lets out: whole calls, then the
    first tokens of the arguments of the one the cap cuts (invalid JSON, as a provider's)."""
    out: list[PlannedCall] = []
    for call in calls:
        if budget <= 0:
            break
        if call.tokens > budget:
            call = PlannedCall(call.id, call.name, "".join(tokens_of(call.arguments)[:budget]))
        out.append(call)
        budget -= call.tokens
    return tuple(out)


# -- streaming --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Piece:
    """One ``delta.tool_calls`` chunk's payload and the completion tokens it completes."""

    delta: dict[str, Any]
    tokens: int = 0


def pieces(calls: Sequence[PlannedCall]) -> list[Piece]:
    """The calls as ``ChatStreamToolCall`` pieces: per call an opening piece (index, id, type,
    name, empty arguments), then its arguments in pieces of 1–7 characters; a call's tokens
    are billed with its last piece."""
    out: list[Piece] = []
    for index, call in enumerate(calls):
        out.append(Piece({"index": index, "id": call.id, "type": "function",
                          "function": {"name": call.name, "arguments": ""}}))
        args, at, turn = call.arguments, 0, index
        while at < len(args):
            size = _PIECES[turn % len(_PIECES)]
            turn += 1
            out.append(Piece({"index": index, "function": {"arguments": args[at:at + size]}}))
            at += size
        last = out[-1]
        out[-1] = Piece(last.delta, call.tokens)
    return out


def checked_steps(steps: Any) -> list[list[tuple[str, dict[str, Any]]]]:
    """``Sandbox.script_tools`` steps as lists of ``(name, arguments dict)``; a TypeError or
    ValueError saying what is wrong otherwise."""
    if not isinstance(steps, list | tuple):
        raise TypeError("steps must be a list of steps, each a list of (name, arguments)")
    out: list[list[tuple[str, dict[str, Any]]]] = []
    for s, step in enumerate(steps):
        if not isinstance(step, list | tuple):
            raise TypeError(f"step {s} must be a list of (name, arguments) pairs")
        calls: list[tuple[str, dict[str, Any]]] = []
        for call in step:
            if not isinstance(call, list | tuple) or len(call) != 2 or not isinstance(call[0], str) \
                    or not isinstance(call[1], Mapping):
                raise TypeError(f"step {s}: each call is (name: str, arguments: dict)")
            if not _NAME.match(call[0]):
                raise ValueError(f"step {s}: {call[0]!r} is not a valid function name")
            calls.append((call[0], dict(call[1])))
        out.append(calls)
    return out
