"""What a call sends besides text, checked before it is sent: images and PDFs against the
model's input modalities, the PDF plugin, and the status line that says what is going.

Pure, apart from :func:`prepare`, which reads ``/models`` (cached by the client) for the
model's ``architecture.input_modalities``:

- an image that no model of the request takes (its ``model`` and every ``models`` fallback:
  OpenRouter skips a fallback without image input) is refused (:class:`CallRefused`) before
  any ledger row is written or anything is sent, naming models that do (favourites first);
- a PDF that may reach a model that does not read files (the model or any fallback) is
  sent with OpenRouter's ``file-parser`` plugin, on the free engine unless the request
  named one (``--pdf-engine``). Without a plugin OpenRouter would parse it with
  mistral-ocr, at $0.002 a page; ``native`` to such a model is refused (OpenRouter
  documents native reading only for models with file input).

The plugin goes into a copy of the body (the SENT body); the replay store stays keyed on
the planned body, so whether ``/models`` answered does not change what replays.
When ``/models`` cannot be had, or does not list the model, nothing is refused: OpenRouter's
own answer (404 "No endpoints found that support image input") then says what happened.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import TYPE_CHECKING, Any

from ..money import exact_usd
from ..record import sent_summary
from ._errors import CallRefused, NothingSent

if TYPE_CHECKING:
    from ..content import Attachment
    from ..openrouter import ModelInfo, OpenRouterClient

#: The engines of OpenRouter's ``file-parser`` plugin (docs: multimodal/pdfs).
PDF_ENGINES = ("cloudflare-ai", "mistral-ocr", "native")
#: What a PDF to a model without file input is read with unless the request says otherwise.
DEFAULT_PDF_ENGINE = "cloudflare-ai"
#: What OpenRouter uses when a file reaches such a model with no plugin named.
OPENROUTER_PDF_ENGINE = "mistral-ocr"
#: USD per page of each engine (OpenRouter's documented prices).
PDF_ENGINE_USD_PER_PAGE = {"cloudflare-ai": 0.0, "mistral-ocr": 0.002, "native": 0.0}

PLUGIN_ID = "file-parser"


def check_pdf_engine(engine: str | None) -> str | None:
    """``engine`` when it is one of :data:`PDF_ENGINES` (or None), else :class:`NothingSent`."""
    if engine is None or engine in PDF_ENGINES:
        return engine
    raise NothingSent(f"Nothing was sent: the PDF engine {engine!r} is not one of "
                      f"{', '.join(PDF_ENGINES)} (--pdf-engine, or pdf_engine=).")


def plugin(engine: str) -> dict[str, Any]:
    """The ``file-parser`` plugin object that has PDFs read by ``engine``."""
    return {"id": PLUGIN_ID, "pdf": {"engine": engine}}


def with_plugin(body: dict[str, Any], engine: str) -> dict[str, Any]:
    """A copy of ``body`` whose ``plugins`` read PDFs with ``engine`` (other plugins kept;
    the messages are shared, not copied: nothing here changes them)."""
    others = [p for p in body.get("plugins") or [] if not (isinstance(p, dict) and p.get("id") == PLUGIN_ID)]
    return {**body, "plugins": [*others, plugin(engine)]}


def plugin_engine(body: dict[str, Any]) -> str | None:
    """The engine the body's ``file-parser`` plugin names, if it has one."""
    for entry in body.get("plugins") or []:
        if isinstance(entry, dict) and entry.get("id") == PLUGIN_ID:
            pdf = entry.get("pdf")
            engine = pdf.get("engine") if isinstance(pdf, dict) else None
            return str(engine) if engine else OPENROUTER_PDF_ENGINE
    return None


@dataclass(frozen=True)
class Sending:
    """What a body sends besides its text (this turn's attachments and the history's)."""

    images: int = 0
    files: int = 0
    #: every page, those of a PDF whose page tree cannot be read guessed from its size
    pages: int = 0
    pages_estimated: bool = False
    #: the engine that reads its PDFs (a plugin's, or OpenRouter's default for a model
    #: without file input); None when the model reads them itself
    engine: str | None = None
    #: the pages whose count was read (what the ledger records: a guess is no fact)
    known_pages: int = 0

    @property
    def any(self) -> bool:
        return bool(self.images or self.files)

    @property
    def plugin_usd(self) -> float:
        """What the engine charges for the pages (0 for free engines and native reading)."""
        if not self.files or self.engine is None:
            return 0.0
        return self.pages * PDF_ENGINE_USD_PER_PAGE.get(self.engine, PDF_ENGINE_USD_PER_PAGE[OPENROUTER_PDF_ENGINE])


def _inputs(info: ModelInfo | None) -> tuple[str, ...] | None:
    """A model's input modalities; None when unknown (not listed, or listed without any)."""
    return info.input_modalities if info is not None and info.input_modalities else None


def model_inputs(client: OpenRouterClient, body: dict[str, Any]) -> list[tuple[str, tuple[str, ...] | None]]:
    """(model, its input modalities or None) for every model ``body`` can be answered by:
    its ``model``, then each ``models`` fallback (``/models``, cached by the client)."""
    from ..routing import request_models
    from ._checks import model_info

    return [(m, _inputs(model_info(client, m))) for m in request_models(body)]


def _reads(inputs: Sequence[tuple[str, tuple[str, ...] | None]]) -> bool | None:
    if any(i is not None and "file" not in i for _, i in inputs):
        return False
    return None if any(i is None for _, i in inputs) or not inputs else True


def reads_files(client: OpenRouterClient, body: dict[str, Any]) -> bool | None:
    """Does every model ``body`` can reach (its model and fallbacks) read files natively?
    False when one does not, None when one is not known."""
    return _reads(model_inputs(client, body))


def sending_of(body: dict[str, Any], *, reads: bool | None = True) -> Sending:
    """Count what ``body`` sends. ``reads``: whether every model it can reach reads files
    natively (:func:`reads_files`; None: unknown, priced as if not: OpenRouter would parse
    them with its paid default)."""
    from ..ledger.budgets import count_files, count_images

    messages = body.get("messages") or []
    files = count_files(messages)
    engine = plugin_engine(body)
    if engine is None and files.files and not reads:
        engine = OPENROUTER_PDF_ENGINE
    return Sending(count_images(messages), files.files, files.pages, files.estimated, engine,
                   files.known)


def media_price(body: dict[str, Any], reads: bool | None) -> tuple[int, float]:
    """(images, PDF plugin USD) of a body, for its worst case: a model's ``pricing.image``
    is per image, a paid parser's per page (``reads``: as :func:`sending_of`). Text alone
    is (0, 0.0) without counting anything."""
    if not has_attachments(body):
        return 0, 0.0
    sending = sending_of(body, reads=reads)
    return sending.images, sending.plugin_usd


def has_attachments(body: dict[str, Any]) -> bool:
    """Does any message carry an image or file part? (Cheap: no counting of pages.)"""
    return any(isinstance(part, dict) and part.get("type") != "text"
               for message in body.get("messages") or [] if isinstance(message.get("content"), list)
               for part in message["content"])


def refusal(models: Sequence[str], inputs: Sequence[str], suggestions: Sequence[str], *,
            history: str | None = None, images: int = 0) -> CallRefused:
    """The one line that refuses images to ``models`` (the model and its fallbacks; nothing
    was sent, nothing spent). ``history``: the conversation whose earlier turns hold the
    ``images`` (this turn attached none), e.g. "chat 'c'"."""
    listed = ", ".join(suggestions)
    text = ", ".join(inputs) or "text"
    model = models[0] if models else "the model"
    if history is not None:
        those = (f"{model} and its fallbacks take" if len(models) > 1 else f"{model} takes")
        return CallRefused(
            f"{history} re-sends {sent_summary(images, 0, 0)} from its earlier turns, and {those} "
            f"no images (inputs: {text}) — continue it with a model that takes images"
            f"{f' ({listed})' if listed else ''}, or start a new --chat (a new Chat() in the "
            "Python API). Nothing was sent.")
    what = f"Models that do: {listed}" if suggestions else "`%edge models` lists the models"
    if len(models) > 1:
        who = f"{model} and its fallbacks {', '.join(models[1:])} do not take images (inputs: {text})"
    else:
        who = f"{model} does not take images (its inputs: {text})"
    return CallRefused(f"{who}. {what} — pick one with -m (model= in the Python API). Nothing was sent.")


def native_refusal(model: str, inputs: Sequence[str]) -> CallRefused:
    """``--pdf-engine native`` to a model without file input: OpenRouter documents native
    reading only for models that take files, so it is refused rather than priced as free."""
    paid = exact_usd(PDF_ENGINE_USD_PER_PAGE["mistral-ocr"])
    return CallRefused(f"{model} cannot read PDFs natively (its inputs: {', '.join(inputs) or 'text'}): "
                       f"use --pdf-engine cloudflare-ai (free) or mistral-ocr ({paid} a page) "
                       "(pdf_engine= in the Python API). Nothing was sent.")


def prepare(client: OpenRouterClient, body: dict[str, Any], pdf_engine: str | None = None, *,
            history: str | None = None) -> tuple[dict[str, Any], Sending]:
    """The body to send for ``body`` and what it sends besides text, checked against every
    model it can reach (its ``model`` and each ``models`` fallback).

    Raises :class:`CallRefused` when it sends images that no model takes (``history``: the
    conversation they come from when this turn attached none, for the refusal's words), or
    PDFs to be read ``native`` by a model without file input. Returns ``body`` itself when
    nothing changes, else a copy with the ``file-parser`` plugin (``pdf_engine``, else
    :data:`DEFAULT_PDF_ENGINE`) when a model without file input may answer.
    """
    from .. import preferences
    from ..openrouter import OpenRouterError

    inputs = model_inputs(client, body)  # None when /models fails or does not list it
    sending = sending_of(body, reads=_reads(inputs))
    known = [(m, i) for m, i in inputs if i is not None]
    if not known:  # nothing to check against: no refusal, OpenRouter's own answer explains
        return body, sending
    if sending.images and len(known) == len(inputs) and not any("image" in i for _, i in known):
        try:
            listed = client.models()
        except OpenRouterError:
            listed = []
        from ._checks import models_that

        takes_images = models_that(lambda m: "image" in m.input_modalities, listed,
                                   favourites=preferences.load().favourites)
        raise refusal([m for m, _ in inputs], known[0][1], takes_images, history=history,
                      images=sending.images)
    if not sending.files:
        return body, sending
    no_files = [(m, i) for m, i in known if "file" not in i]
    if no_files and plugin_engine(body) == "native":
        raise native_refusal(*no_files[0])
    if no_files and plugin_engine(body) is None:
        body = with_plugin(body, pdf_engine or DEFAULT_PDF_ENGINE)
        sending = sending_of(body, reads=False)
    return body, sending


def _at_most(usd: float) -> str:
    """A worst case rounded UP to what is shown (two significant digits, at least cents'
    precision), so "at most" is never below the figure it stands for."""
    if not math.isfinite(usd):
        return exact_usd(usd)
    value = Decimal(repr(max(usd, 0.0)))
    if value == 0:
        return exact_usd(0)
    digits = min(math.floor(math.log10(float(value))) - 1, -2)
    return exact_usd(value.quantize(Decimal(1).scaleb(digits), rounding=ROUND_CEILING))


def sending_line(sending: Sending, *, text_tokens: int, at_most_usd: float | None = None,
                downscaled: Sequence[Attachment] = ()) -> str:
    """The status line of one call that sends attachments, e.g. "2 images · 1 PDF (12 pages)
    · ~1,850 text tokens · at most $0.013"; "" when it sends none.

    ``downscaled``: this turn's images that were made smaller before sending.
    """
    if not sending.any:
        return ""
    parts = []
    if sending.images:  # the counts in the wording of receipts and the cost line
        images = sent_summary(sending.images, 0, 0)
        shrunk = [a for a in downscaled if a.downscaled_from and a.width and a.height]
        if shrunk:
            (w, h), a = shrunk[0].downscaled_from or (0, 0), shrunk[0]
            size = f"from {w}×{h} to {a.width}×{a.height}"
            if sending.images == 1:
                images += f" (downscaled {size})"
            elif len(shrunk) == 1:  # which of them: the others went as they were
                images += f" (1 downscaled {size})"
            else:
                images += f" ({len(shrunk)} downscaled, e.g. {size})"
        parts.append(images)
    if sending.files:
        pdfs = sent_summary(0, sending.files, sending.pages)  # "2 PDFs (7 pages)"
        if sending.pages_estimated:
            pdfs = pdfs.replace(" (", " (~", 1)[:-1] + ", pages estimated)"
        parts.append(pdfs)
        if sending.engine is not None:
            rate = PDF_ENGINE_USD_PER_PAGE.get(sending.engine)
            price = "free" if rate == 0 else f"{exact_usd(rate)}/page" if rate else "price unknown"
            parts.append(f"PDF read by {PLUGIN_ID} ({sending.engine}, {price})")
    parts.append(f"~{text_tokens:,} text tokens")
    if at_most_usd is not None:
        parts.append(f"at most {_at_most(at_most_usd)}")
    return " · ".join(parts)
