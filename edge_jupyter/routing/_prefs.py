"""One set of routing preferences (:class:`RoutePrefs`) and :func:`validate` for it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._errors import RoutingError
from ._max_price import MaxPrice
from ._names import _covers, check_model_id, parse_provider_list
from ._providers import DATA_COLLECTION, SORTS


def _join(names: Sequence[str]) -> str:
    return ",".join(names)


@dataclass
class RoutePrefs:
    """One set of routing preferences: a cell's flags, a participant's options or the defaults.

    Every field is "unset" when ``None``, so :meth:`merged_over` can tell "the cell says
    nothing" from "the cell says: nobody" (an empty list, typed as ``--ignore none``).
    Provider names are canonical slugs (see :func:`provider_slug`); ``fallbacks`` are
    model ids sent as the request's ``models`` list, tried after the cell's model.
    """

    order: list[str] | None = None
    only: list[str] | None = None
    ignore: list[str] | None = None
    allow_fallbacks: bool | None = None
    data_collection: str | None = None
    zdr: bool | None = None
    sort: str | None = None
    max_price: MaxPrice | None = None
    fallbacks: list[str] | None = None

    def is_empty(self) -> bool:
        """True when these preferences add nothing to a request."""
        return self.to_provider_object() is None and not self.fallbacks

    def to_provider_object(self) -> dict[str, Any] | None:
        """Exactly OpenRouter's ``provider`` object, or ``None`` when there is nothing to send.

        Empty lists are left out (``only: []`` would read as "allow nobody" to a careful
        reader of the spec, while for us it means "no restriction"). Key order follows the
        docs' example so a logged body reads naturally.
        """
        obj: dict[str, Any] = {}
        for name in ("order", "only", "ignore"):
            names = getattr(self, name)
            if names:
                obj[name] = list(names)
        if self.allow_fallbacks is not None:
            obj["allow_fallbacks"] = self.allow_fallbacks
        if self.data_collection is not None:
            obj["data_collection"] = self.data_collection
        if self.zdr is not None:
            obj["zdr"] = self.zdr
        if self.sort is not None:
            obj["sort"] = self.sort
        if self.max_price is not None:
            obj["max_price"] = self.max_price.to_object()
        return obj or None

    def apply_to_body(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of a chat request body with ``provider`` and ``models`` set from these prefs.

        ``models`` holds only the fallbacks: OpenRouter tries ``model`` first and then
        ``models`` in order ([DOCS guides/routing/model-fallbacks]); the cell's own model
        is dropped from the list so it is not tried twice.
        """
        out = dict(body)
        obj = self.to_provider_object()
        if obj is not None:
            out["provider"] = obj
        models = [m for m in self.fallbacks or [] if m != body.get("model")]
        if models:
            out["models"] = models
        return out

    def merged_over(self, defaults: RoutePrefs) -> RoutePrefs:
        """These (cell) preferences over ``defaults``, field by field: a set field wins.

        One refinement: the defaults' ``order`` is a wish, not a policy, so entries this
        cell ignores, or leaves out of its own ``only``, are dropped from it instead of
        turning into a conflict. Allow- and deny-lists are never widened behind the user's
        back: a real contradiction (``--only x`` over a default ``ignore x``) is left for
        :func:`validate` to report.
        """
        order = self.order
        if order is None and defaults.order is not None:
            order = [n for n in defaults.order
                     if not any(_covers(i, n) for i in self.ignore or [])
                     and (not self.only or _allowed_by(n, self.only))] or None

        def pick(name: str) -> Any:
            mine = getattr(self, name)
            return mine if mine is not None else getattr(defaults, name)

        return RoutePrefs(
            order=order, only=pick("only"), ignore=pick("ignore"),
            allow_fallbacks=pick("allow_fallbacks"), data_collection=pick("data_collection"),
            zdr=pick("zdr"), sort=pick("sort"), max_price=pick("max_price"),
            fallbacks=pick("fallbacks"),
        )

    # -- persistence -------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The form stored in ``preferences.route`` (unset fields left out)."""
        out: dict[str, Any] = dict(self.to_provider_object() or {})
        if self.fallbacks:
            out["fallbacks"] = list(self.fallbacks)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> RoutePrefs:
        """Read :meth:`to_json` output (or a hand-edited file); bad values raise RoutingError.

        Unknown keys are ignored so that a newer edge_jupyter's file still loads.
        """
        if not data:
            return cls()
        if not isinstance(data, Mapping):
            raise RoutingError("The saved routing defaults are not an object; reset them with "
                               "`%edge route --reset`.")

        def names(key: str) -> list[str] | None:
            value = data.get(key)
            if value is None:
                return None
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list):
                raise RoutingError(f"Saved routing {key!r} must be a list of provider names.")
            return parse_provider_list([str(v) for v in value]) if value else []

        def flag(key: str) -> bool | None:
            value = data.get(key)
            if value is not None and not isinstance(value, bool):
                raise RoutingError(f"Saved routing {key!r} must be true or false.")
            return value

        prefs = cls(order=names("order"), only=names("only"), ignore=names("ignore"),
                    allow_fallbacks=flag("allow_fallbacks"), zdr=flag("zdr"))
        if data.get("data_collection") is not None:
            prefs.data_collection = _choice(str(data["data_collection"]), DATA_COLLECTION,
                                            "data_collection")
        sort = data.get("sort")
        if isinstance(sort, Mapping):  # the spec's ProviderSortConfig form {"by": ..., "partition": ...}
            sort = sort.get("by")
        if sort is not None:
            prefs.sort = _choice(str(sort), SORTS, "sort")
        if data.get("max_price") is not None:
            prefs.max_price = MaxPrice.from_object(data["max_price"])
        fallbacks = data.get("fallbacks", data.get("models"))
        if fallbacks is not None:
            if not isinstance(fallbacks, list):
                raise RoutingError("Saved routing 'fallbacks' must be a list of model ids.")
            prefs.fallbacks = [check_model_id(str(m)) for m in fallbacks]
        return prefs

    # -- words -------------------------------------------------------------------------------
    def flags(self) -> str:
        """The ``%%edge`` flags that give these preferences back (for status and messages)."""
        out: list[str] = []
        if self.order:
            out.append(f"--provider {_join(self.order)}")
        if self.only:
            out.append(f"--only {_join(self.only)}")
        if self.ignore:
            out.append(f"--ignore {_join(self.ignore)}")
        if self.allow_fallbacks is not None:
            out.append("--allow-fallbacks" if self.allow_fallbacks else "--no-fallbacks")
        if self.data_collection is not None:
            out.append(f"--data-collection {self.data_collection}")
        if self.zdr is not None:
            out.append("--zdr" if self.zdr else "--no-zdr")
        if self.sort is not None:
            out.append(f"--sort {self.sort}")
        if self.max_price is not None:
            out.append(f"--max-price {self.max_price.flag()}")
        out.extend(f"--fallback {m}" for m in self.fallbacks or [])
        return " ".join(out)

    def describe(self) -> str:
        """One line for ``%edge status`` and the panel, e.g.
        ``only amazon-bedrock, azure; no fallbacks; no data collection``."""
        parts: list[str] = []
        if self.order:
            parts.append("prefer " + " > ".join(self.order))
        if self.only:
            parts.append("only " + ", ".join(self.only))
        if self.ignore:
            parts.append("never " + ", ".join(self.ignore))
        if self.allow_fallbacks is False:
            parts.append("no fallbacks")
        elif self.allow_fallbacks:
            parts.append("fallbacks allowed")
        if self.data_collection == "deny":
            parts.append("no data collection")
        elif self.data_collection == "allow":
            parts.append("data collection allowed")
        if self.zdr:
            parts.append("zero data retention only")
        if self.sort:
            parts.append("cheapest first" if self.sort == "price" else f"sort by {self.sort}")
        if self.max_price is not None:
            parts.append(self.max_price.describe())
        if self.fallbacks:
            parts.append("then " + ", ".join(self.fallbacks))
        return "; ".join(parts) if parts else "OpenRouter's default routing"


def _choice(value: str, allowed: Sequence[str], what: str) -> str:
    low = value.strip().lower()
    if low not in allowed:
        raise RoutingError(f"{what} {value!r} is not one of {', '.join(allowed)}.")
    return low


def _allowed_by(name: str, only: Sequence[str]) -> bool:
    """Can ``name`` be served under this allow-list? (Either may be the narrower variant.)"""
    return any(_covers(o, name) or _covers(name, o) for o in only)


def validate(prefs: RoutePrefs, extra_known: Iterable[str] = ()) -> list[str]:
    """Refuse combinations that cannot route; return warnings for ones that half-work.

    Checks only (``prefs`` is not changed); run it on the merged preferences of a call.

    Errors (:class:`RoutingError`): an unknown name; a provider both in ``only`` and
    ``ignore``; an ``order`` whose every entry is ignored or outside ``only`` (it could never
    apply, and with ``--no-fallbacks`` nothing could serve); a bad sort, data policy or
    fallback model id.

    Warnings: some ``order`` entries excluded; ``sort`` together with ``order`` (the spec
    applies ``sort`` only "if order is not specified").

    Deliberately *not* an error: ``--no-fallbacks`` with no ``--provider``/``--only``.
    OpenRouter defines it as "use only the primary provider", which still means something
    (no silent switch to a backup provider, e.g. for reproducible comparisons).
    """
    extra = list(extra_known)
    for name in ("order", "only", "ignore"):
        if getattr(prefs, name):
            parse_provider_list(getattr(prefs, name), extra)
    only, ignore, order = prefs.only or [], prefs.ignore or [], prefs.order or []
    clash = [o for o in only if any(_covers(i, o) for i in ignore)]
    if clash:
        raise RoutingError(f"{_join(clash)} is both allowed (--only {_join(only)}) and ignored "
                           f"(--ignore {_join(ignore)}); drop it from one of them "
                           "(`--ignore none` clears a default for one cell).")
    warnings: list[str] = []
    if order:
        ignored = [n for n in order if any(_covers(i, n) for i in ignore)]
        dead = [n for n in order if n in ignored or (only and not _allowed_by(n, only))]
        if dead and len(dead) == len(order):
            why = (f"--ignore {_join(ignore)}" if len(ignored) == len(dead)
                   else f"--only {_join(only)}" if not ignored
                   else f"--only {_join(only)} with --ignore {_join(ignore)}")
            raise RoutingError(f"--provider {_join(order)} can never be used: {why} rules it out. "
                               "Change one of them (for this cell, or in `%edge route`).")
        if dead:
            warnings.append(f"--provider: {_join(dead)} is excluded by --only/--ignore and will not be tried.")
        if prefs.sort:
            warnings.append(f"--sort {prefs.sort} does not reorder --provider {_join(order)}: "
                            "OpenRouter sorts only when no order is given.")
    if prefs.sort is not None:
        _choice(prefs.sort, SORTS, "--sort")
    if prefs.data_collection is not None:
        _choice(prefs.data_collection, DATA_COLLECTION, "--data-collection")
    for model in prefs.fallbacks or []:
        check_model_id(model)
    return warnings
