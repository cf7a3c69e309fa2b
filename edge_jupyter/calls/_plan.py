"""From what a front-end asks for to the request bodies to send (pure apart from reading
the saved routing defaults, participant sets and the named conversation).

Every front-end fills in a :class:`Request` — the magic from its flags, the Python API from
its keyword arguments, ``map`` per row, the CLI from its options — and :func:`plan` turns it
into one :class:`PlannedCall` per model: the body with the messages (the conversation's
history first), the participant's options and the routing preferences it carries.
"""

from __future__ import annotations

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


def _body(request: Request, model: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": messages}
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    return add_answer_options(body, pdf_engine=request.pdf_engine, reasoning=request.reasoning,
                              reasoning_tokens=request.reasoning_tokens, schema=request.schema,
                              heal=request.heal)


def add_answer_options(body: dict[str, Any], *, pdf_engine: str | None = None,
                       reasoning: str | None = None, reasoning_tokens: int | None = None,
                       schema: Any = None, heal: bool = False) -> dict[str, Any]:
    """``body`` with how the answer is to be made: the PDF engine's plugin, the ``reasoning``
    object, a schema's ``response_format`` and the healing plugin. One place for a cell's,
    an ``ask``'s and a ``map`` row's bodies, so they are built (and replay-keyed) alike."""
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
    return body


def plan(request: Request) -> CallPlan:
    """The calls ``request`` makes; raises the error tree's RoutingError, ParticipantError
    or ConversationError (a sentence saying what to change) before anything is written."""
    from .. import conversations, participants, preferences, routing
    from ._media import check_pdf_engine

    prompt = Prompt.coerce(request.prompt)
    if prompt.is_empty():
        from ._errors import NothingSent

        raise NothingSent("The prompt is empty: nothing was sent; write a question.")
    check_pdf_engine(request.pdf_engine)
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
        body = spec.apply_to_body(_body(request, spec.model, messages), route)
        prefs, spec_notes = spec.resolved_route(route)
        out.notes += spec_notes
        out.calls.append(PlannedCall(spec.key, spec, body, prefs))
    out.notes = list(dict.fromkeys(out.notes))
    return out
