"""The one check for every number a person types: finite, in range, or a sentence saying why not.

Flags of ``%%edge`` and ``%edge``, per-participant options, ``map()`` keyword arguments
and the ``edge-jupyter`` command line all read their numbers through a :class:`Rule`,
so each refuses the same values with the same words::

    >>> USD.read("nan", "--budget")
    Traceback (most recent call last):
    NumberError: --budget must be a finite amount of USD ≥ 0, not nan

Why so strict: ``float("nan")`` passes every ``<`` and ``>`` test, so a NaN budget or
temperature slips past range checks and fails much later (a ledger row left pending, a
request that cannot be encoded, a budget compared with nothing). Pure: no I/O, no imports
beyond the standard library.
"""

from __future__ import annotations

import argparse
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

from .errors import EdgeError


class NumberError(EdgeError, ValueError):
    """A number that cannot be used; ``str()`` names it and says what is allowed."""


def _grouped(value: float) -> str:
    """``1000000`` -> ``1,000,000``; ``0.5`` -> ``0.5`` (bounds in messages)."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,g}"


def _shown(raw: object) -> str:
    """How the refused value is quoted: numbers bare (``nan``, ``-1``), other text in quotes."""
    if isinstance(raw, str):
        text = raw.strip()
        try:
            float(text)
        except ValueError:
            return repr(text[:40])
        return text[:40]
    return repr(raw)[:40]


@dataclass(frozen=True)
class Rule:
    """What a number may be: ``kind`` is its noun ("amount of USD", "number of tokens")."""

    kind: str
    low: float | None = None
    high: float | None = None
    whole: bool = False
    above_low: bool = False  # ``> low`` rather than ``>= low`` (a timeout of 0 waits for nothing)
    dollar_sign: bool = False  # "$5" reads as 5

    def allowed(self) -> str:
        """``a finite amount of USD ≥ 0``, ``a whole number of tokens from 1 to 100,000,000``."""
        noun = f"a whole {self.kind}" if self.whole else f"a finite {self.kind}"
        if self.low is not None and self.high is not None and not self.above_low:
            return f"{noun} from {_grouped(self.low)} to {_grouped(self.high)}"
        bounds = []
        if self.low is not None:
            bounds.append(f"{'>' if self.above_low else '≥'} {_grouped(self.low)}")
        if self.high is not None:
            bounds.append(f"≤ {_grouped(self.high)}")
        return f"{noun} {' and '.join(bounds)}".strip()

    def _refuse(self, raw: object, name: str) -> NumberError:
        return NumberError(f"{name} must be {self.allowed()}, not {_shown(raw)}")

    def cleaned(self, text: str) -> str:
        """The text as it is parsed: blanks and ``_`` dropped, one leading ``$`` if allowed."""
        cleaned = text.strip().replace("_", "")
        if self.dollar_sign and cleaned.startswith("$"):
            cleaned = cleaned[1:].strip()
        return cleaned

    def _from_text(self, text: str, name: str) -> float | int:
        cleaned = self.cleaned(text)
        try:
            return int(cleaned) if self.whole else float(cleaned)
        except ValueError:
            raise self._refuse(text, name) from None

    def read(self, raw: object, name: str) -> float | int:
        """``raw`` (text as typed, or a Python number) checked; raises :class:`NumberError`.

        Text is what flags and option values give; a number is what ``map()`` gets. A bool
        is refused (``max_tokens=True`` is a slip, not a count), and so is a fractional
        value where a whole number is needed (``5.0`` tokens reads as a mistake, as it does
        typed).
        """
        if isinstance(raw, str):
            value: float | int = self._from_text(raw, name)
        elif isinstance(raw, bool) or not isinstance(raw, numbers.Real):
            raise self._refuse(raw, name)
        elif self.whole:
            if not isinstance(raw, numbers.Integral):
                raise self._refuse(raw, name)
            value = int(raw)
        else:
            value = float(raw)
        if not math.isfinite(value):
            raise self._refuse(raw, name)
        if value == 0:  # "-0" is 0: a -0.0 sent on would print as "-$0" wherever it is shown
            value = 0 if self.whole else 0.0
        if self.low is not None and (value <= self.low if self.above_low else value < self.low):
            raise self._refuse(raw, name)
        if self.high is not None and value > self.high:
            raise self._refuse(raw, name)
        return value

    def optional(self, raw: object, name: str) -> float | int | None:
        """Like :meth:`read`, with ``None`` meaning "not given"."""
        return None if raw is None else self.read(raw, name)

    def argtype(self) -> Callable[[str], float | int]:
        """An argparse ``type=``: argparse names the flag, so the message starts at "must".

        The magics' parsers turn ``argument --budget: must be …`` into ``--budget must be …``.
        """
        def parse(text: str) -> float | int:
            try:
                return self.read(text, "")
            except NumberError as exc:
                raise argparse.ArgumentTypeError(str(exc).strip()) from None

        parse.__name__ = self.kind  # argparse's fallback wording ("invalid … value")
        return parse


#: Money the user sets: budgets, alert threshold, a key's credit limit, confirm_over.
USD = Rule("amount of USD", low=0, dollar_sign=True)
#: A price in USD per million tokens (``%edge models --max-price``, ``--max-price P/C``).
USD_PER_M = Rule("price in USD per million tokens", low=0, dollar_sign=True)
#: ``temperature``: OpenRouter takes 0-2.
TEMPERATURE = Rule("number", low=0, high=2)
#: ``top_p``: a probability mass.
TOP_P = Rule("number", low=0, high=1)
#: A token count (``--max-tokens``, ``max_tokens=``); 100 M is far above any model's context.
TOKENS = Rule("number of tokens", low=1, high=100_000_000, whole=True)
#: A context length to filter by (0: no minimum).
CONTEXT = Rule("number of tokens", low=0, high=100_000_000, whole=True)
#: ``seed``: providers take a signed 64-bit integer.
SEED = Rule("number", low=-(2**63), high=2**63 - 1, whole=True)
#: How many at a time / how many to list: at least one, and not enough to exhaust the machine.
COUNT = Rule("number", low=1, high=1_000, whole=True)
#: Parallel requests of ``map()``: each is a thread and a connection.
CONCURRENCY = Rule("number", low=1, high=64, whole=True)
#: A wait in seconds (``%edge connect --timeout``): more than nothing, at most a day.
SECONDS = Rule("number of seconds", low=0, high=86_400, above_low=True)
#: A rate such as the sandbox's tokens per second (0: as fast as possible).
RATE = Rule("number", low=0)


def strip_argparse_prefix(message: str) -> str:
    """``argument --budget: must be …`` -> ``--budget must be …`` (argparse's wording, shortened)."""
    head, sep, rest = message.partition(": ")
    if sep and head.startswith("argument ") and rest.startswith(("must be ", "takes ")):
        return f"{head[len('argument '):]} {rest}"
    return message


# -- numbers read back from a file or a server ----------------------------------------------
# Not typed by a person, so there is no one to tell: a value that is not a usable number
# is ``None`` and the caller decides (unknown, damaged file, impossible figure).

def real(value: object, *, text: bool = False) -> float | None:
    """``value`` as a float if it is an int or float (never a bool: ``True`` is no amount),
    or with ``text=True`` a decimal string (OpenRouter sends prices as ``"0.000002"``);
    else None. Not checked for finiteness (see :func:`finite`); a JSON integer too long for
    a float is None rather than an ``OverflowError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    if isinstance(value, str) and not text:
        return None
    try:
        return float(value)
    except (ValueError, OverflowError):
        return None


def finite(value: object, *, low: float | None = None, high: float | None = None,
           text: bool = False) -> float | None:
    """A stored or server number: :func:`real`, finite, and within ``low``..``high`` if given; else None."""
    number = real(value, text=text)
    if number is None or not math.isfinite(number):
        return None
    if (low is not None and number < low) or (high is not None and number > high):
        return None
    return number


def whole(value: object, *, low: int | None = 0, high: int | None = None) -> int | None:
    """A stored or server count: an int (not a bool, not ``5.0``) within ``low``..``high``; else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    if (low is not None and value < low) or (high is not None and value > high):
        return None
    return value
