"""Spending limits: pure arithmetic over token estimates and prices (no I/O).

Two checks keep a limit:

* **before** a call, :func:`worst_case_cost` prices the estimated prompt plus the largest
  completion the call may produce; the ledger refuses the call if that does not fit what is
  left (:meth:`edge_jupyter.ledger.Ledger.reserve`);
* **during** a stream, :class:`StreamGuard` prices the tokens as they arrive and says
  "stop" on the chunk that crosses the limit, so the overshoot is less than one chunk's cost.

These are estimates and say so: the number shown and recorded for a call is always
OpenRouter's own ``usage.cost`` (or ``/generation``'s ``total_cost``), never a
recomputation from these functions.

Token estimates deliberately **over**-estimate.  Refusing a call that would have fit costs
the user one retry with a lower ``--max-tokens``; letting through one that does not fit
spends money past a limit they set.  Tokenizers average about four characters per token on
English prose and about three on code, so ``characters / 3`` is above the real count for
nearly all text; characters outside ASCII (accents, Cyrillic, CJK, emoji) take more tokens
each, so their extra UTF-8 bytes are counted on top.  Adversarial text (random base64,
long digit strings) can still beat the estimate; the stream guard and OpenRouter's own
key limits are the safety nets for that.

Attachments are counted by what they are, never by their base64 text: an image part as
:data:`IMAGE_TOKENS`, a file part (a PDF) as its pages times :data:`PAGE_TOKENS`; a page
count that cannot be read from the file is estimated from its size on the safe side
(:func:`count_files` says so).  A model's ``pricing.image`` and a PDF plugin's page price are
added on top (``images=``, ``extra_usd=``).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import EdgeError
from ..user_numbers import finite

if TYPE_CHECKING:
    from edge_jupyter.openrouter import Pricing

#: Characters per token assumed for ASCII text (real tokenizers: ~4 for prose, ~3 for code).
CHARS_PER_TOKEN = 3.0
#: Extra UTF-8 bytes per extra token: a CJK character (3 bytes) counts 1/3 + 1 tokens.
EXTRA_BYTES_PER_TOKEN = 2.0
#: Tokens per message for the role and separators (OpenAI's chat format uses 3-4).
MESSAGE_OVERHEAD = 8
#: Tokens that prime the reply.
REPLY_OVERHEAD = 8
#: Allowance per image part (a 1024x1024 image is ~765-1,600 tokens across providers).
IMAGE_TOKENS = 1_600
#: Allowance per PDF page: Anthropic documents 1,500-3,000 tokens a page (its text plus the
#: page as an image); the top of that range, so an estimate stays above the bill.
PAGE_TOKENS = 3_000
#: Bytes per page assumed when a PDF's page count cannot be read: text PDFs run ~3-10 kB a
#: page, so this counts at least as many pages as most files have.
BYTES_PER_PAGE = 10_000
#: Completion ceiling when neither ``max_tokens`` nor the model's limits are known.
UNKNOWN_COMPLETION_CEILING = 128_000

#: Scopes a :class:`Limit` may have.  "cell" is one execution of one cell (all its model
#: calls); "call" is a single request; the others are ledger scopes (day/month in UTC).
LIMIT_SCOPES = ("session", "notebook", "day", "month", "all", "cell", "call", "calls")


@dataclass(frozen=True)
class Limit:
    """A spending limit: at most ``limit_usd`` over ``scope``.

    Scope "calls" is the ``budget`` of one set of calls (a ``%%edge`` cell, an ``ask``, a
    ``map``): its rows are the caller's own, so the caller says what they already hold
    (``held_usd``: the worst cases reserved so far, or their costs once settled) rather
    than the ledger selecting them — a kernel's other calls, in the same cell or outside any
    notebook, never count against it.
    """

    scope: str
    limit_usd: float
    held_usd: float = 0.0

    def __post_init__(self) -> None:
        if self.scope not in LIMIT_SCOPES:
            raise ValueError(f"unknown budget scope {self.scope!r}; use one of {', '.join(LIMIT_SCOPES)}")
        if not self.limit_usd >= 0:  # also refuses NaN
            raise ValueError(f"a budget must be a positive amount of USD, not {self.limit_usd!r}")


def left_usd(limit_usd: float, spent_usd: float) -> float:
    """What is left of a limit: the limit minus what its scope spent and holds, never below 0.

    ``spent_usd`` is :meth:`edge_jupyter.ledger.Ledger.spent` (settled costs plus running
    reservations), the figure the pre-call check compares with; the panel and
    ``%edge budget`` both show this.
    """
    return max(0.0, float(limit_usd) - float(spent_usd))


def estimate_text_tokens(text: str) -> float:
    """An over-estimate of the tokens in ``text`` (fractional, so chunks add up fairly)."""
    if not text:
        return 0.0
    extra = len(text.encode("utf-8", "surrogatepass")) - len(text)
    return len(text) / CHARS_PER_TOKEN + extra / EXTRA_BYTES_PER_TOKEN


_IMAGE_PARTS = ("image_url", "input_image", "image")


@dataclass(frozen=True)
class FileCount:
    """The file parts of some messages: how many, their pages, and whether any page count
    was estimated from a file's size (its page tree could not be read)."""

    files: int = 0
    #: every page, a file whose page tree cannot be read counted from its size (the estimate)
    pages: int = 0
    estimated: bool = False
    #: the pages of the files whose page tree was read (what a record says was sent: a
    #: size-based guess is for the estimate, not a fact)
    known: int = 0


#: (length, hash) of a data URL -> its (pages, estimated): one file is counted for the
#: estimate, the guard, the status line and the record, and decoding a large PDF each time
#: is wasted. Keyed on the string's hash (cached by Python on the string), not the string:
#: a cache of 20 MB data URLs would keep them alive.
_PAGES_SEEN: dict[tuple[int, int], tuple[int, bool]] = {}


def _file_pages(data: str) -> tuple[int, bool]:
    """(pages, estimated) of one file part's ``file_data`` (a data URL, or a link)."""
    key = (len(data), hash(data))
    seen = _PAGES_SEEN.get(key)
    if seen is None:
        if len(_PAGES_SEEN) > 256:
            _PAGES_SEEN.clear()
        seen = _PAGES_SEEN[key] = _read_pages(data)
    return seen


def _read_pages(data: str) -> tuple[int, bool]:
    from ..content import pdf_pages

    head, comma, payload = data.partition(",")
    if not (comma and head.startswith("data:")):
        return 1, True  # a link: nothing to read here (the front-ends only send data URLs)
    try:
        raw = base64.b64decode(payload, validate=False) if head.endswith(";base64") else payload.encode()
    except (binascii.Error, ValueError):
        raw = payload.encode()
    pages = pdf_pages(raw)
    if pages:
        return pages, False
    return max(1, math.ceil(len(raw) / BYTES_PER_PAGE)), True


def _part_pages(part: dict[str, Any]) -> tuple[int, bool]:
    file = part.get("file")
    data = file.get("file_data") or file.get("url") if isinstance(file, dict) else None
    return _file_pages(data) if isinstance(data, str) else (1, True)


def _parts(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [part for message in messages if isinstance(message.get("content"), list)
            for part in message["content"] if isinstance(part, dict)]


def _content_tokens(content: Any) -> float:
    if content is None:
        return 0.0
    if isinstance(content, str):
        return estimate_text_tokens(content)
    if isinstance(content, list):
        total = 0.0
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                total += estimate_text_tokens(str(part.get("text") or ""))
            elif isinstance(part, dict) and part.get("type") in _IMAGE_PARTS:
                total += IMAGE_TOKENS
            elif isinstance(part, dict) and part.get("type") == "file":
                # By its pages, never its base64 text (a 2 MB PDF is not 900,000 tokens);
                # the file name is sent as text.
                file = part.get("file")
                name = str(file.get("filename") or "") if isinstance(file, dict) else ""
                total += _part_pages(part)[0] * PAGE_TOKENS + estimate_text_tokens(name)
            else:  # audio, anything else: price its JSON text
                total += estimate_text_tokens(json.dumps(part, ensure_ascii=False, default=str))
        return total
    return estimate_text_tokens(json.dumps(content, ensure_ascii=False, default=str))


def estimate_prompt_tokens(messages: list[dict[str, Any]], *,
                           tools: list[dict[str, Any]] | None = None) -> int:
    """An over-estimate of the prompt tokens of a chat request (see the module's docstring)."""
    total = float(REPLY_OVERHEAD)
    for message in messages:
        total += MESSAGE_OVERHEAD + _content_tokens(message.get("content"))
        for key in ("name", "tool_calls", "tool_call_id"):
            if message.get(key):
                total += estimate_text_tokens(json.dumps(message[key], ensure_ascii=False, default=str))
    if tools:
        total += estimate_text_tokens(json.dumps(tools, ensure_ascii=False, default=str))
    return math.ceil(total)


def estimate_body_tokens(body: dict[str, Any]) -> int:
    """:func:`estimate_prompt_tokens` of a request body: its messages and its ``tools`` (a
    function's schema is prompt the model is billed for — a long docstring is many tokens)."""
    tools = body.get("tools")
    return estimate_prompt_tokens(body["messages"], tools=tools if isinstance(tools, list) else None)


def estimate_text_only_tokens(messages: list[dict[str, Any]]) -> int:
    """:func:`estimate_prompt_tokens` of the messages' text alone (images and files left out)."""
    text_only = [{**m, "content": [p for p in m["content"] if isinstance(p, dict) and p.get("type") == "text"]}
                 if isinstance(m.get("content"), list) else m for m in messages]
    return estimate_prompt_tokens(text_only)


def count_images(messages: list[dict[str, Any]]) -> int:
    """Image parts in the messages (some models price images per image)."""
    return sum(1 for part in _parts(messages) if part.get("type") in _IMAGE_PARTS)


def count_files(messages: list[dict[str, Any]]) -> FileCount:
    """The file parts in the messages and their pages (see :class:`FileCount`)."""
    counts = [_part_pages(part) for part in _parts(messages) if part.get("type") == "file"]
    return FileCount(len(counts), sum(p for p, _ in counts), any(e for _, e in counts),
                     sum(p for p, e in counts if not e))


def completion_ceiling(max_tokens: int | None, *, prompt_tokens: int = 0,
                       context_length: int | None = None,
                       max_completion_tokens: int | None = None) -> int:
    """The most completion tokens a call can produce.

    ``max_tokens`` when given (a provider never exceeds its own ceiling, so the smaller of
    the two); otherwise the model's ``max_completion_tokens`` or what the context leaves
    after the prompt; :data:`UNKNOWN_COMPLETION_CEILING` when nothing is known. A model
    limit of 0 or below (a broken or hostile catalogue) is no limit: taking it would make
    the ceiling, and so the worst case, zero or negative, and let any call through.
    """
    if max_completion_tokens is not None and max_completion_tokens <= 0:
        max_completion_tokens = None
    if context_length is not None and context_length <= 0:
        context_length = None
    known = [n for n in (max_tokens, max_completion_tokens) if n]
    if context_length:
        known.append(max(context_length - prompt_tokens, 1))
    if max_tokens:
        return max(min(known), 0)
    return min(known) if known else UNKNOWN_COMPLETION_CEILING


class UnknownPrice(EdgeError, ValueError):
    """A price that cannot be used: variable (``"-1"``), negative, non-finite or missing.

    Pricing a call with it would be a made-up number (a "-1" prompt price makes a call look
    like it pays you, so it fits any budget); callers refuse the call under a budget instead.
    """


def _checked(pricing: Pricing, prompt_tokens: int) -> tuple[float, float, float, float]:
    """(prompt, completion incl. reasoning, request, image) prices for a call of
    ``prompt_tokens``, or :class:`UnknownPrice`.

    The one place every estimate reads a price sheet: its tiers and UTC windows
    (``overrides``) and its ``discount`` through :func:`edge_jupyter.pricing_sheet.dearest_soon`
    (the dearer of now and the next minutes, as a call may be billed in the next window).
    """
    if not pricing.known:
        raise UnknownPrice(pricing.unknown_reason or "the price is unknown")
    if pricing.overrides or pricing.discount:
        from ..pricing_sheet import dearest_soon

        pricing = dearest_soon(pricing, prompt_tokens)
    if not pricing.known:
        raise UnknownPrice(pricing.unknown_reason or "the price is unknown")
    values = (pricing.prompt, pricing.completion, pricing.request, pricing.image, pricing.reasoning or 0.0)
    checked = [finite(v, low=0) for v in values]
    numbers = [v for v in checked if v is not None]
    if len(numbers) != len(checked):
        raise UnknownPrice(f"a price is not a non-negative number: {values!r}")
    prompt, completion, request, image, reasoning = numbers
    # Reasoning tokens are billed as completion tokens; where a model prices them apart,
    # take the dearer of the two so the estimate stays on the safe side.
    return prompt, max(completion, reasoning), request, image


def _completion_price(pricing: Pricing, prompt_tokens: int) -> float:
    return _checked(pricing, prompt_tokens)[1]


def prompt_cost(prompt_tokens: int, pricing: Pricing, *, images: int = 0,
                extra_usd: float = 0.0) -> float:
    """What the request costs before any completion token: prompt, per-request, images
    (``pricing.image`` each), and ``extra_usd`` (a PDF plugin's pages).

    Raises :class:`UnknownPrice` for a variable or broken price."""
    prompt, _, request, image = _checked(pricing, prompt_tokens)
    return prompt_tokens * prompt + request + images * image + max(0.0, extra_usd)


def worst_case_cost(prompt_tokens: int, max_tokens: int, pricing: Pricing, *,
                    images: int = 0, extra_usd: float = 0.0) -> float:
    """The most a call can cost: the prompt plus ``max_tokens`` completion tokens, in USD.

    Cache reads are priced as fresh prompt tokens (they are never dearer). Raises
    :class:`UnknownPrice` for a variable or broken price: there is no worst case then.
    """
    return (prompt_cost(prompt_tokens, pricing, images=images, extra_usd=extra_usd)
            + max_tokens * _completion_price(pricing, prompt_tokens))


class StreamGuard:
    """Tracks a stream's running cost against what is left of the tightest limit.

    Feed it each chunk's completion tokens (:meth:`add`) or text (:meth:`add_text`, which
    estimates); it returns False on the chunk whose cost crosses ``remaining_usd`` and from
    then on.  Since every earlier chunk fitted, the overshoot is below one chunk's cost
    (plus whatever the provider generates before it notices the cancel).

    Build it with the dearest prices the call can be billed at (the route's dearest
    endpoint); an unknown price raises :class:`UnknownPrice` here, because a guard on a
    negative price never stops and one on a made-up price stops at the wrong place.
    """

    def __init__(self, remaining_usd: float, pricing: Pricing, prompt_tokens: int, *,
                 images: int = 0, extra_usd: float = 0.0) -> None:
        self.remaining_usd = remaining_usd
        self.prompt_cost_usd = prompt_cost(prompt_tokens, pricing, images=images, extra_usd=extra_usd)
        self.completion_price = _completion_price(pricing, prompt_tokens)
        self.completion_tokens = 0.0
        self.stopped = False

    @property
    def cost_usd(self) -> float:
        """The running estimate: prompt cost plus the completion tokens so far."""
        return self.prompt_cost_usd + self.completion_tokens * self.completion_price

    @property
    def left_usd(self) -> float:
        return self.remaining_usd - self.cost_usd

    def add(self, completion_tokens_delta: float = 1) -> bool:
        """Count a chunk; False once the running cost has crossed the limit."""
        if self.stopped:
            return False
        self.completion_tokens += completion_tokens_delta
        if self.cost_usd > self.remaining_usd:
            self.stopped = True
            return False
        return True

    def add_text(self, text: str) -> bool:
        """Count a chunk of streamed text (answer or reasoning) by its estimated tokens."""
        return self.add(estimate_text_tokens(text))

    def __repr__(self) -> str:
        return (f"StreamGuard(cost≈{self.cost_usd:.6g} of {self.remaining_usd:.6g} USD, "
                f"{self.completion_tokens:.0f} completion tokens, stopped={self.stopped})")
