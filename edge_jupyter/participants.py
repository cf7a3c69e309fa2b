"""Per-participant options for multi-model cells, and named participant sets.

A *participant spec* is one ``-m`` value of ``%%edge``: the model id, then ``key=value``
options that apply to that model only::

    %%edge -m "anthropic/claude-3.5-haiku temperature=0.2 max_tokens=400 provider=amazon-bedrock" \\
           -m "openai/gpt-4o-mini temperature=1 system='Answer in one line'"

Values are read shell-style, so a value with spaces is quoted (``system="Be brief"``) and a
list is comma-separated (``provider=amazon-bedrock,google-vertex``). Options:

==================  ================================================================
sampling            ``temperature`` (0-2), ``max_tokens`` (>= 1), ``top_p`` (0-1), ``seed``
prompt              ``system`` (replaces the cell's system prompt for this model)
reasoning           ``reasoning`` (an effort: none … max), ``reasoning_tokens`` (>= 1)
tier                ``tier`` (``flex``: about half price, may queue; ``priority``: dearer)
routing             ``provider`` (order), ``only``, ``ignore``, ``sort``, ``fallbacks``
                    (models), ``allow_fallbacks``, ``data_collection``, ``zdr``, ``max_price``
==================  ================================================================

Routing options use :mod:`edge_jupyter.routing`, so names are checked the same way as the
``--provider``/``--only`` flags. A participant's options win over the cell's flags, which
win over the saved defaults. Named sets (``%edge participants save NAME …``, ``%%edge -p
NAME``) are lists of specs kept in ``preferences.participants``; the helpers at the end are
the only code here that does I/O.
"""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import EdgeError
from .routing import (
    DATA_COLLECTION,
    SORTS,
    MaxPrice,
    RoutePrefs,
    RoutingError,
    check_model_id,
    parse_max_price,
    parse_provider_list,
    service_tier,
    validate,
)
from .user_numbers import SEED, TEMPERATURE, TOKENS, TOP_P, NumberError, Rule


class ParticipantError(EdgeError, ValueError):
    """A participant spec or a participant set that cannot be used; the message says why."""


# -- option types --------------------------------------------------------------------------------
# Numbers are read by the same rules as the cell's flags (edge_jupyter.user_numbers), so
# ``temperature=nan`` is refused in the same words as ``-t nan``.


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _bool(text: str) -> bool:
    low = text.lower()
    if low in _TRUE | _FALSE:
        return low in _TRUE
    raise ValueError("must be true or false")


def _choice(allowed: Sequence[str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text.lower() not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return text.lower()

    return parse


def _models(text: str) -> list[str]:
    return [check_model_id(m) for m in text.split(",") if m.strip()]


def _text(text: str) -> str:
    return text


def _effort(text: str) -> str:
    from .calls import REASONING_EFFORTS  # here: calls imports this module

    return _choice(REASONING_EFFORTS)(text)


#: option -> (parser or number rule, where it goes). ``param``: the request body; ``route``: a RoutePrefs
#: field (named by the third item); ``system``: the system message.
_OPTIONS: dict[str, tuple[Callable[[str], Any] | Rule, str, str]] = {
    "temperature": (TEMPERATURE, "param", "temperature"),
    "max_tokens": (TOKENS, "param", "max_tokens"),
    "top_p": (TOP_P, "param", "top_p"),
    "seed": (SEED, "param", "seed"),
    "system": (_text, "system", "system"),
    "provider": (parse_provider_list, "route", "order"),
    "only": (parse_provider_list, "route", "only"),
    "ignore": (parse_provider_list, "route", "ignore"),
    "sort": (_choice(SORTS), "route", "sort"),
    "fallbacks": (_models, "route", "fallbacks"),
    "allow_fallbacks": (_bool, "route", "allow_fallbacks"),
    "data_collection": (_choice(DATA_COLLECTION), "route", "data_collection"),
    "zdr": (_bool, "route", "zdr"),
    "max_price": (parse_max_price, "route", "max_price"),
    "reasoning": (_effort, "reasoning", "effort"),
    "reasoning_tokens": (TOKENS, "reasoning", "max_tokens"),
    "tier": (service_tier, "param", "service_tier"),
}
#: Other spellings people reach for; each maps to one option above.
_ALIASES = {"order": "provider", "providers": "provider", "fallback": "fallbacks",
            "max_completion_tokens": "max_tokens", "service_tier": "tier"}
OPTIONS: tuple[str, ...] = tuple(_OPTIONS)


def _suggest(key: str) -> str | None:
    """The option a typo most likely meant: an abbreviation first (``temp``), then spelling."""
    starts = [o for o in OPTIONS if o.startswith(key)] if len(key) >= 2 else []
    if len(starts) == 1:
        return starts[0]
    close = difflib.get_close_matches(key, [*OPTIONS, *_ALIASES], n=1, cutoff=0.6)
    return _ALIASES.get(close[0], close[0]) if close else None


def _canonical_key(key: str) -> str:
    low = key.strip().lower().replace("-", "_")
    return _ALIASES.get(low, low)


def _show(value: Any) -> str:
    """An option value as it is written back into a spec (and shown in the table)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value)
    if isinstance(value, MaxPrice):
        return value.flag()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# -- the participant -----------------------------------------------------------------------------
@dataclass
class ParticipantSpec:
    """One model of a cell with its own options.

    ``params`` go into the request body as they are (temperature, max_tokens, top_p, seed);
    ``route`` holds the participant's routing options; ``system`` replaces the cell's
    system prompt for this model. ``options`` keeps every option in the order written,
    for :meth:`label` and :meth:`spec`.
    """

    model: str
    params: dict[str, Any] = field(default_factory=dict)
    route: RoutePrefs = field(default_factory=RoutePrefs)
    system: str | None = None
    options: list[tuple[str, Any]] = field(default_factory=list)

    def label(self, width: int = 40) -> str:
        """The options for the comparison table: ``temperature=0.2, provider=amazon-bedrock``.

        A long ``system`` prompt is shortened to ``width`` characters; "" when no options.
        """
        parts = []
        for key, value in self.options:
            text = _show(value)
            if key == "system":
                text = text if len(text) <= width else text[: width - 1] + "…"
                text = repr(text)
            parts.append(f"{key}={text}")
        return ", ".join(parts)

    def spec(self) -> str:
        """The canonical spec, re-readable by :func:`parse_participant` (saved in sets)."""
        return " ".join([self.model, *(f"{k}={shlex.quote(_show(v))}" for k, v in self.options)])

    @property
    def key(self) -> str:
        """A name unique within a cell even when one model appears with different options."""
        label = self.label()
        return f"{self.model} [{label}]" if label else self.model

    def resolved_route(self, cell_route: RoutePrefs | None = None) -> tuple[RoutePrefs, list[str]]:
        """This participant's routing over the cell's (already merged with the defaults).

        Returns the preferences and :func:`~edge_jupyter.routing.validate`'s warnings;
        raises :class:`ParticipantError` naming the model when the result cannot route.
        """
        route = self.route.merged_over(cell_route) if cell_route is not None else self.route
        try:
            return route, validate(route)
        except RoutingError as exc:
            raise ParticipantError(f"{self.model}: {exc}") from None

    def apply_to_body(self, body: Mapping[str, Any], cell_route: RoutePrefs | None = None) -> dict[str, Any]:
        """A copy of the cell's request ``body`` for this participant.

        Its ``params`` override the cell's (``max_tokens=400`` beats ``--max-tokens``), its
        ``system`` replaces (or adds) the leading system message, and ``provider``/``models``
        come from :meth:`resolved_route`.
        """
        out = {**body, "model": self.model, **self.params}
        if isinstance(body.get("reasoning"), Mapping) and "reasoning" in self.params:
            # reasoning=high beats --reasoning low; the cell's --reasoning-tokens stays
            out["reasoning"] = {**body["reasoning"], **self.params["reasoning"]}
        if self.system is not None:
            messages = [dict(m) for m in body.get("messages") or []]
            if messages and messages[0].get("role") == "system":
                messages[0]["content"] = self.system
            else:
                messages.insert(0, {"role": "system", "content": self.system})
            out["messages"] = messages
        out.pop("provider", None)
        out.pop("models", None)
        route, _ = self.resolved_route(cell_route)
        return route.apply_to_body(out)


def parse_participant(spec: str) -> ParticipantSpec:
    """``"anthropic/claude-3.5-haiku temperature=0.2 provider=amazon-bedrock"`` -> a ParticipantSpec.

    Errors name the model, the option and what is allowed, with a suggestion for a typo.
    """
    try:
        tokens = shlex.split(spec)
    except ValueError as exc:
        raise ParticipantError(f"Cannot read the participant {spec!r} ({exc}); check the quotes.") from None
    if not tokens:
        raise ParticipantError("A participant is empty; write a model id, then key=value options.")
    model, *rest = tokens
    if "=" in model:
        raise ParticipantError(f"{spec!r}: a participant starts with the model id, e.g. "
                               "\"anthropic/claude-3.5-haiku temperature=0.2\".")
    try:
        model = check_model_id(model)
    except RoutingError as exc:
        raise ParticipantError(str(exc).replace("fallback models look", "models look")) from None
    p = ParticipantSpec(model)
    for token in rest:
        raw_key, sep, text = token.partition("=")
        key = _canonical_key(raw_key)
        if not sep or not raw_key.strip():
            raise ParticipantError(f"{model}: option {token!r} is not key=value "
                                   f"(options: {', '.join(OPTIONS)}).")
        if key not in _OPTIONS:
            close = _suggest(key)
            did = f" Did you mean {close}?" if close else ""
            raise ParticipantError(f"{model}: unknown option {raw_key!r}.{did} "
                                   f"Options: {', '.join(OPTIONS)}.")
        if any(k == key for k, _ in p.options):
            raise ParticipantError(f"{model}: option {key} is given twice.")
        parse, where, name = _OPTIONS[key]
        try:
            # the table's parsers return different types (number, text, list, RoutePrefs
            # field): the value is checked by its parser, and typed by where it goes
            value: Any = parse.read(text, key) if isinstance(parse, Rule) else \
                parse(text.strip() if key != "system" else text)
        except NumberError as exc:  # names the option and what is allowed
            raise ParticipantError(f"{model}: {exc}.") from None
        except RoutingError as exc:  # already a full sentence
            raise ParticipantError(f"{model}: {key}: {exc}") from None
        except ValueError as exc:  # a type parser's phrase: "is not a number"
            raise ParticipantError(f"{model}: {key}={text!r} {exc}.") from None
        if where == "param":
            p.params[name] = value
        elif where == "system":
            p.system = value
        elif where == "reasoning":  # one ``reasoning`` object in the body for both options
            p.params["reasoning"] = {**p.params.get("reasoning", {}), name: value}
        else:
            setattr(p.route, name, value)
        p.options.append((key, value))
    return p


def check_unique(participants: Sequence[ParticipantSpec]) -> None:
    """Refuse the same model with the same options twice (it would only double the cost)."""
    seen: set[str] = set()
    for p in participants:
        if p.key in seen:
            raise ParticipantError(f"{p.key} is given twice.")
        seen.add(p.key)


def parse_participants(specs: Sequence[str]) -> list[ParticipantSpec]:
    """Parse several specs (the ``-m`` values of a cell, or a saved set) and check them."""
    parts = [parse_participant(s) for s in specs]
    check_unique(parts)
    return parts


# -- named sets (the only I/O here: preferences.participants) -----------------------------------
_SET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_set_name(name: str) -> str:
    """Set names are short words (letters, digits, ``_.-``) so they read well after ``-p``."""
    if not _SET_NAME.match(name or ""):
        raise ParticipantError(f"{name!r} is not a participant set name: use letters, digits, "
                               "'_', '.' or '-' (up to 64), e.g. cheap-trio.")
    return name


def list_sets() -> dict[str, list[str]]:
    """Every saved set: name -> specs."""
    from . import preferences

    return dict(preferences.load().participants)


def save_set(name: str, specs: Sequence[str]) -> list[ParticipantSpec]:
    """Check ``specs`` and save them under ``name`` (replacing a set of that name).

    Specs are stored in canonical form (slugs, normalised values), so what
    ``%edge participants list`` shows is exactly what ``-p NAME`` will run.
    """
    from . import preferences

    name = check_set_name(name)
    if not specs:
        raise ParticipantError(f"Participant set {name!r} needs at least one model.")
    parts = parse_participants(specs)

    def put(prefs: preferences.Preferences) -> None:  # on the file as it is now, locked
        prefs.participants = {**prefs.participants, name: [p.spec() for p in parts]}

    preferences.edit(put)
    return parts


def load_set(name: str) -> list[str]:
    """The specs saved under ``name``; a clear error (with close names) when there is none."""
    sets = list_sets()
    if name in sets:
        return list(sets[name])
    close = difflib.get_close_matches(name, list(sets), n=3, cutoff=0.6)
    did = f" Did you mean {' or '.join(close)}?" if close else ""
    known = f" Saved sets: {', '.join(sorted(sets))}." if sets else \
        " None is saved yet: `%edge participants save NAME \"MODEL key=value\" …`."
    raise ParticipantError(f"No participant set named {name!r}.{did}{known}")


def delete_set(name: str) -> None:
    """Forget the set ``name`` (an error if it does not exist)."""
    from . import preferences

    load_set(name)

    def drop(prefs: preferences.Preferences) -> None:  # on the file as it is now, locked
        prefs.participants = {k: v for k, v in prefs.participants.items() if k != name}

    preferences.edit(drop)


def resolve(models: Sequence[str], set_name: str | None = None) -> list[ParticipantSpec]:
    """The participants of a cell: the set named by ``-p`` (if any), then each ``-m``."""
    specs = [*(load_set(set_name) if set_name else []), *models]
    return parse_participants(specs)
