"""Reasoning requests: the ``reasoning`` object of a body, and the check against ``/models``.

``--reasoning EFFORT`` / ``--reasoning-tokens N`` (``reasoning=`` / ``reasoning_tokens=``)
become OpenRouter's ``ReasoningConfig`` (``{"effort": …, "max_tokens": N}``). A model
whose ``/models`` entry does not list ``reasoning`` (or ``include_reasoning``) in its
``supported_parameters`` is refused before anything is written, naming models that reason;
so is ``none`` for a model whose reasoning is mandatory, and an effort the entry's
``supported_efforts`` does not list.

``--hide-reasoning`` is display-only: it does not send ``exclude`` (the model reasons, and
is billed for it, either way; only what the cell shows changes, and the reasoning is still
kept on the result).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._errors import CallRefused, NothingSent

#: ReasoningEffort of OpenRouter's spec, least to most.
EFFORTS: tuple[str, ...] = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
#: What a model's ``supported_parameters`` lists when it takes a ``reasoning`` object.
_PARAMETERS = ("reasoning", "include_reasoning")


def reasoning_config(effort: str | None, tokens: int | None) -> dict[str, Any] | None:
    """The body's ``reasoning`` object, or None when neither is asked for; raises
    :class:`NothingSent` for an unknown effort or a token count below 1."""
    out: dict[str, Any] = {}
    if effort is not None:
        if effort not in EFFORTS:
            raise NothingSent(f"Nothing was sent: reasoning effort {effort!r} is not one of "
                              f"{', '.join(EFFORTS)}.")
        out["effort"] = effort
    if tokens is not None:
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
            raise NothingSent(f"Nothing was sent: reasoning tokens must be a whole number >= 1, "
                              f"not {tokens!r}.")
        out["max_tokens"] = tokens
    return out or None


def reasons(supported_parameters: Sequence[str]) -> bool:
    return any(p in supported_parameters for p in _PARAMETERS)


def refusal(model: str, asked: Mapping[str, Any], supported: Sequence[str],
            entry: Mapping[str, Any] | None, reasoning_models: Sequence[str]) -> str | None:
    """Why ``asked`` (a body's ``reasoning``) cannot go to ``model``, or None when it can;
    ``reasoning_models``: the ones to name instead (``_checks.models_that``)."""
    if not reasons(supported):
        some = ", ".join(reasoning_models) or "none are listed"
        return (f"Refused before sending: {model} does not reason (its /models entry has no "
                f"'reasoning' parameter). Drop --reasoning/--reasoning-tokens, or pick a model "
                f"that reasons: {some}.")
    entry = entry or {}
    effort = asked.get("effort")
    if effort == "none" and entry.get("mandatory") is True:
        return (f"Refused before sending: {model} always reasons (its reasoning is mandatory), "
                "so --reasoning none cannot be honoured; pick an effort or another model.")
    efforts = entry.get("supported_efforts")
    if effort is not None and effort != "none" and isinstance(efforts, list) and efforts \
            and effort not in efforts:
        return (f"Refused before sending: {model} takes the reasoning efforts "
                f"{', '.join(map(str, efforts))}, not {effort!r}.")
    if asked.get("max_tokens") is not None and entry.get("supports_max_tokens") is False:
        return (f"Refused before sending: {model} does not take a reasoning token budget "
                "(--reasoning-tokens); give an effort instead (--reasoning high).")
    return None


def check(client: Any, bodies: Sequence[Mapping[str, Any]]) -> None:
    """Refuse (:class:`CallRefused`) a body asking ``reasoning`` of a model that cannot do it.

    A model missing from ``/models`` (or ``/models`` not answering) is let through: the
    server is then the judge, as for any other parameter."""
    asked = [b for b in bodies if isinstance(b.get("reasoning"), Mapping)]
    if not asked:
        return
    from ..openrouter import OpenRouterError

    try:
        models = client.models()
    except OpenRouterError:
        return
    by_id = {m.id: m for m in models}
    from .. import preferences
    from ._checks import models_that

    reasoning_models = models_that(lambda m: reasons(m.supported_parameters), models,
                                   favourites=preferences.load().favourites)
    for body in asked:
        model = str(body.get("model"))
        info = by_id.get(model) or by_id.get(model.split(":", 1)[0])
        if info is None:
            continue
        why = refusal(model, body["reasoning"], info.supported_parameters,
                      getattr(info, "reasoning", None), reasoning_models)
        if why:
            raise CallRefused(why)
