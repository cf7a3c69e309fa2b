"""From what a front-end asks for to the request bodies to send (pure apart from reading
the saved routing defaults, participant sets and the named conversation).

Every front-end fills in a :class:`Request` — the magic from its flags, the Python API from
its keyword arguments, ``map`` per row, the CLI from its options — and :func:`plan` turns it
into one :class:`PlannedCall` per model: the body with the messages (the conversation's
history first), the participant's options and the routing preferences it carries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..content import Prompt
from ..conversations import Conversation
from ..participants import ParticipantSpec
from ..routing import RoutePrefs
from ._context import CallContext


@dataclass
class Request:
    """One prompt to one or more models, with every option a ``%%edge`` cell's flags carry."""

    #: the text, or a :class:`~edge_jupyter.content.Prompt` of text and attachments in order
    prompt: str | Prompt
    #: model ids, each optionally with options ("openai/gpt-4o-mini temperature=0.2");
    #: empty: the participant set, else the default model
    models: list[str] = field(default_factory=list)
    participants: str | None = None  # a saved participant set
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    budget: float | None = None  # a limit for these calls together, in USD
    stream: bool = True
    replay: bool = False  # answer from the replay store when the same request was answered
    fresh: bool = False  # ask again even if it was, and keep the new answer in the store
    chat: str | None = None  # a named conversation, persisted (``%%edge --chat NAME``)
    #: an in-memory conversation (``Chat()`` without a name); the turn is added to it
    conversation: Conversation | None = None
    route: RoutePrefs = field(default_factory=RoutePrefs)  # this request's own routing
    route_defaults: bool = True  # merge ``route`` over the saved defaults
    context: CallContext = field(default_factory=CallContext)
    #: the ledger's ``chat`` column when no conversation is named (e.g. "map")
    label: str = ""
    #: the engine of the ``file-parser`` plugin that reads PDFs ("cloudflare-ai",
    #: "mistral-ocr", "native"): given, it is in every body; None: the engine adds the free
    #: one to models without file input (``_media``)
    pdf_engine: str | None = None
    #: ``--reasoning EFFORT`` (one of ``_reasoning.EFFORTS``) and ``--reasoning-tokens N``:
    #: the body's ``reasoning`` object; checked against /models before sending
    reasoning: str | None = None
    reasoning_tokens: int | None = None
    hide_reasoning: bool = False  # display only: the model still reasons (and is billed)
    #: a :class:`~edge_jupyter.structured.Schema`: asked for as ``response_format``
    #: ``json_schema`` (strict); each answer is validated into ``value``
    schema: Any = None
    heal: bool = False  # OpenRouter's response-healing plugin repairs malformed JSON
    #: Python callables the model may call (``--tools f,g``, ``tools=[f, g]``): the engine runs
    #: the tool loop (:mod:`._loop`), one ledger row per step; None: no function tools
    tools: Sequence[Callable[..., Any]] | None = None
    max_steps: int = 10  # model requests a tool loop makes at most (``--max-steps``)
    confirm_tools: bool = False  # ask before each tool call (``--confirm-tools``)
    #: ``--web``: OpenRouter's web search server tool, with ``--web-results`` (results per
    #: search), ``--web-engine`` and ``--web-searches`` (searches per request, at most)
    web: bool = False
    web_results: int | None = None
    web_engine: str | None = None
    web_searches: int | None = None
    #: ``--or-cache``: OpenRouter's response cache (``X-OpenRouter-Cache: true``); a hit is
    #: not billed. ``--cache-prompt``: ``cache_control`` breakpoints for the models that need
    #: them (``_caches.add_breakpoints``)
    or_cache: bool = False
    cache_prompt: bool = False
    #: ``--tier flex|priority``: the body's ``service_tier`` (checked by
    #: :func:`edge_jupyter.routing.service_tier`); a participant's ``tier=`` wins
    tier: str | None = None


@dataclass
class PlannedCall:
    """One model's request: its key (model id plus options), spec, body and routing."""

    key: str
    spec: ParticipantSpec
    body: dict[str, Any]
    route: RoutePrefs


@dataclass
class CallPlan:
    request: Request
    calls: list[PlannedCall]
    turn_key: str
    conversation: Conversation | None = None
    persisted: bool = False  # the conversation is a named one, saved after the turn
    notes: list[str] = field(default_factory=list)
    #: the request's functions (an ``edge_jupyter.tools.ToolBox``) when it runs a tool loop
    toolbox: Any = None


def _body(request: Request, model: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": messages}
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    return add_answer_options(body, pdf_engine=request.pdf_engine, reasoning=request.reasoning,
                              reasoning_tokens=request.reasoning_tokens, schema=request.schema,
                              heal=request.heal, web=web_of(request), tier=request.tier)


def web_of(request: Request) -> dict[str, Any] | None:
    """The web search tool ``request`` asks for (``--web``), or None."""
    if not request.web:
        return None
    from ._web import web_tool

    return web_tool(results=request.web_results, engine=request.web_engine,
                    searches=request.web_searches)


def add_answer_options(body: dict[str, Any], *, pdf_engine: str | None = None,
                       reasoning: str | None = None, reasoning_tokens: int | None = None,
                       schema: Any = None, heal: bool = False,
                       web: dict[str, Any] | None = None,
                       tier: str | None = None) -> dict[str, Any]:
    """``body`` with how the answer is to be made: the PDF engine's plugin, the ``reasoning``
    object, a schema's ``response_format``, the healing plugin, the web search tool
    (``web``, from :func:`._web.web_tool`) and the service tier (``tier``: "flex",
    "priority", as :func:`edge_jupyter.routing.service_tier` reads it). One place for a
    cell's, an ``ask``'s and a ``map`` row's bodies, so they are built (and replay-keyed) alike."""
    if tier is not None:
        from ..routing import service_tier

        body["service_tier"] = service_tier(tier)
    if pdf_engine is not None:  # asked for: in the planned body, so in the replay key
        from ._media import plugin

        body["plugins"] = [plugin(pdf_engine)]
    from ._reasoning import reasoning_config

    config = reasoning_config(reasoning, reasoning_tokens)
    if config is not None:
        body["reasoning"] = config
    if schema is not None:
        from ..structured import HEALING_PLUGIN

        body["response_format"] = schema.response_format()
        if heal:
            body["plugins"] = [*body.get("plugins", []), dict(HEALING_PLUGIN)]
    if web is not None:
        body["tools"] = [*body.get("tools", []), web]
    return body


def plan(request: Request) -> CallPlan:
    """The calls ``request`` makes; raises the error tree's RoutingError, ParticipantError
    or ConversationError (a sentence saying what to change) before anything is written."""
    from .. import conversations, participants, preferences, routing
    from . import _caches
    from ._media import check_pdf_engine

    prompt = Prompt.coerce(request.prompt)
    if prompt.is_empty():
        from ._errors import NothingSent

        raise NothingSent("The prompt is empty: nothing was sent; write a question.")
    check_pdf_engine(request.pdf_engine)
    toolbox = _toolbox(request)
    # Text alone goes as the plain string it always was: the same body, the same replay key.
    asked: str | Prompt = prompt if prompt.attachments else prompt.text
    route, notes = routing.effective_prefs(request.route, routing.load_defaults(),
                                           use_defaults=request.route_defaults)
    models = request.models or ([] if request.participants else [preferences.load().default_model])
    specs = participants.resolve(models, request.participants)
    participants.check_unique(specs)
    out = CallPlan(request=request, calls=[], turn_key=request.context.turn_key(),
                   notes=list(notes))
    if request.chat:
        out.conversation = conversations.load(conversations.check_name(request.chat))
        out.persisted = True
    elif request.conversation is not None:
        out.conversation = request.conversation
    for spec in specs:
        system = spec.system if spec.system is not None else request.system
        if out.conversation is not None:
            messages = out.conversation.messages_for(spec.model, asked, out.turn_key, system)
        else:
            messages = [{"role": "system", "content": system}] if system else []
            messages.append({"role": "user", "content": prompt.content()})
        body = _body(request, spec.model, messages)
        if toolbox is not None:  # the functions first: a web tool (server side) after them
            body["tools"] = [*toolbox.specs, *body.get("tools", [])]
        body = spec.apply_to_body(body, route)
        if request.cache_prompt:
            body = _caches.add_breakpoints(body)
        if out.persisted:  # sticky routing: one provider per named chat, its prompt cache warm
            body["session_id"] = _caches.session_id_for(out.conversation.name if out.conversation
                                                        else str(request.chat))
        prefs, spec_notes = spec.resolved_route(route)
        out.notes += spec_notes
        out.calls.append(PlannedCall(spec.key, spec, body, prefs))
    out.notes = list(dict.fromkeys(out.notes))
    if toolbox is not None and len(out.calls) > 1:
        from ._errors import NothingSent

        raise NothingSent("Nothing was sent: a tool loop runs with one model at a time; name one "
                          "with -m (model= in the Python API), or run a cell per model.")
    out.toolbox = toolbox
    return out


def _toolbox(request: Request) -> Any:
    """The request's functions as a :class:`~edge_jupyter.tools.ToolBox` (its
    :class:`~edge_jupyter.tools.ToolError` says which function cannot be a tool), or None."""
    if not request.tools:
        return None
    from ..tools import ToolBox

    if request.max_steps < 1 or isinstance(request.max_steps, bool):
        from ._errors import NothingSent

        raise NothingSent(f"Nothing was sent: --max-steps must be at least 1 (got {request.max_steps!r}).")
    return ToolBox(list(request.tools))
