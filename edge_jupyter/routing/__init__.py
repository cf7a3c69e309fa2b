"""OpenRouter provider routing: the ``provider`` object, its flags, and why nothing could serve.

OpenRouter routes each call to one of the providers (endpoints) that serve the model.
A request steers that choice with a ``provider`` object (``ProviderPreferences`` in the
OpenAPI spec, ``additionalProperties: false``) and may name fallback *models* in
``models``. This package is the pure core behind ``%%edge --provider/--only/...`` and
``%edge route``; import everything from here, the modules are private:

- :class:`RoutePrefs` (``_prefs``) holds one set of preferences (a cell's flags, a
  participant's options or the saved defaults), merges cell over defaults, and renders
  exactly the ``provider`` object the spec accepts;
- :func:`parse_provider_list` / :func:`provider_slug` (``_names``) check names against the
  slugs OpenRouter knows (``_providers``), *before* anything is sent, with "did you mean"
  suggestions; :func:`service_tier` reads ``--tier``, :func:`route_variant` splits off a
  ``:floor`` / ``:nitro`` variant (priced as its base model);
- :class:`MaxPrice` / :func:`parse_max_price` (``_max_price``) read ``--max-price``;
- :func:`validate` (``_prefs``) rejects combinations that cannot route anywhere;
- :func:`explain_no_endpoints` (``_no_endpoints``) turns OpenRouter's "no endpoints" 404
  into a sentence naming the preference that excluded every provider of the model;
- :func:`add_route_arguments` / :func:`route_from_args` (``_args``) give the magic its flags;
- :func:`endpoints_frame` (``_endpoints_frame``) tabulates ``/models/{author}/{slug}/endpoints``;
- :func:`dearest_price` / :func:`worst_of` (``_worst_price``) give the dearest price a request
  can be billed at: every endpoint its route reaches, every ``models`` fallback (budgets use it);
- ``_reach`` replays which endpoints a route's provider lists leave (shared by the two above);
- :class:`RoutingError` (``_errors``) is raised for any preference that cannot be used.

Nothing here does I/O except :func:`load_defaults` / :func:`save_defaults` (``_args``), which
only wrap :mod:`edge_jupyter.preferences`; pandas is imported inside
:func:`endpoints_frame` only.
"""

from __future__ import annotations

from ._args import (
    add_route_arguments,
    effective_prefs,
    effective_route,
    load_defaults,
    route_from_args,
    save_defaults,
    tier_arg,
)
from ._endpoints_frame import _FRAME_COLUMNS as _FRAME_COLUMNS  # private, read by the tests
from ._endpoints_frame import endpoints_frame
from ._errors import RoutingError
from ._max_price import MaxPrice, parse_max_price
from ._names import (
    ROUTE_VARIANTS,
    SERVICE_TIERS,
    check_model_id,
    parse_provider_list,
    provider_slug,
    route_variant,
    service_tier,
)
from ._no_endpoints import explain_no_endpoints, is_no_endpoints_error
from ._prefs import RoutePrefs, validate
from ._providers import (
    DATA_COLLECTION,
    DISPLAY_TO_SLUG,
    KNOWN_PROVIDERS,
    PRIVACY_URL,
    SLUG_TO_DISPLAY,
    SORTS,
)
from ._worst_price import (
    WorstPrice,
    dearest_price,
    request_models,
    request_route,
    request_tier,
    worst_of,
)
from ._worst_price import unknown as unknown_price

__all__ = [
    "DATA_COLLECTION",
    "DISPLAY_TO_SLUG",
    "KNOWN_PROVIDERS",
    "PRIVACY_URL",
    "ROUTE_VARIANTS",
    "SERVICE_TIERS",
    "SLUG_TO_DISPLAY",
    "SORTS",
    "MaxPrice",
    "RoutePrefs",
    "RoutingError",
    "WorstPrice",
    "add_route_arguments",
    "check_model_id",
    "dearest_price",
    "effective_prefs",
    "effective_route",
    "endpoints_frame",
    "explain_no_endpoints",
    "is_no_endpoints_error",
    "load_defaults",
    "parse_max_price",
    "parse_provider_list",
    "provider_slug",
    "request_models",
    "request_route",
    "request_tier",
    "route_from_args",
    "route_variant",
    "save_defaults",
    "service_tier",
    "tier_arg",
    "unknown_price",
    "validate",
    "worst_of",
]
