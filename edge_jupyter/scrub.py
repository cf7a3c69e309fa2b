"""The one scrubber: every string that comes from a server passes through it.

OpenRouter (or a provider, a proxy, a hostile look-alike) may echo the caller's key in an
error message, a key label, a model id.  ``scrub(text, key)`` masks:

* the caller's key in its obvious encodings: exact, any letter case, with any short run
  of non-alphanumeric characters between its characters (split by spaces, newlines,
  quotes or dashes, wrapped by a terminal), and each character possibly escaped as
  ``%hh`` (``quote``/``quote_plus`` leave a key's characters as they are; a full
  percent-encoding does not), ``\\uXXXX`` (JSON) or ``&#NN;``/``&#xHH;`` (HTML);
* the caller's key in base64 (an ``Authorization: Basic`` echo, a ``data:`` URL): a
  plain substring search for each of the three alignments, so it costs almost nothing;
* anything shaped like an OpenRouter key, the caller's or not: ``sk-or-v1-`` followed
  by hex (user, OAuth and management keys all have this shape: ``sk-or-v1-`` + 64 hex,
  see the spec's ``/auth/keys`` example), in any case, from 16 hex digits on, so a
  truncated echo of half a key is masked too.  OpenRouter's own masked labels
  (``sk-or-v1-au7...890``) do not have 16 hex digits in a row and stay readable.

Not masked: a key with letters or digits inserted between its characters ("noise" made
of alphanumerics cannot be told from text in general), and hex/reversed/encrypted forms.

Cost: the caller's-key pattern is compiled once per key; a search fails at almost every
position on its first character class, so scrubbing is linear in the text (≈ tens of ms
per MiB).  It runs once per server string (an error body, a label), never per token, and
server strings are capped in size by the client before they get here.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from collections.abc import Callable
from typing import Any

#: What a masked key is replaced with (no character of the key survives).
MASK = "sk-or-…"

#: Anything shaped like an OpenRouter key (any version tag), case-insensitively.
_KEY_SHAPE = re.compile(r"sk-or-(?:v\d+-)?[0-9a-f]{16,}", re.IGNORECASE)
#: What may stand between two characters of an echoed key: a short run of non-alphanumeric
#: characters or escaped ones (percent, JSON and HTML escapes of punctuation/whitespace).
_SEP = (r"(?:[^0-9A-Za-z%\\&]|%[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4}|\\[nrt]"
        r"|&#[0-9]{1,4};|&#[xX][0-9A-Fa-f]{1,4};|[%\\&]){0,12}")
_MIN_KEY = 16  # a shorter "key" (a test stub, a typo) is only masked exactly

_lock = threading.Lock()
_compiled: dict[str, tuple[re.Pattern[str], tuple[str, ...]]] = {}


def _char(c: str) -> str:
    """A regex for one key character, as itself or escaped (letters in either case)."""
    forms = {re.escape(c)}
    for ch in {c.lower(), c.upper()}:
        n = ord(ch)
        forms |= {f"%{n:02x}", f"\\\\u{n:04x}", f"&#{n};", f"&#x{n:x};"}
    return "(?:" + "|".join(sorted(forms, key=len, reverse=True)) + ")"


def _base64_forms(key: str) -> tuple[str, ...]:
    """The part of the key's base64 that is the same wherever the key sits in a text."""
    raw = key.encode()
    forms = []
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw).decode()
        start = (pad * 4 + 2) // 3 + 1  # skip the characters the prefix influenced
        forms.append(encoded[start:len(encoded) - 4])  # and the last group (the suffix's)
    return tuple(f for f in forms if len(f) >= 16)


def _patterns(key: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    digest = hashlib.sha256(key.encode()).hexdigest()
    with _lock:
        hit = _compiled.get(digest)
    if hit is not None:
        return hit
    skeleton = [c for c in key if c.isalnum()]
    body = _SEP.join(_char(c) for c in skeleton)
    pattern = re.compile(body, re.IGNORECASE)
    entry = (pattern, _base64_forms(key))
    with _lock:
        if len(_compiled) > 16:  # a process uses one or two keys; never grow without bound
            _compiled.clear()
        _compiled[digest] = entry
    return entry


def scrub(text: str, key: str | None = None) -> str:
    """``text`` with the caller's ``key`` (any encoding above) and any key-shaped string masked."""
    if not text:
        return text
    if key:
        if key in text:
            text = text.replace(key, MASK)
        if len(key) >= _MIN_KEY:
            pattern, b64 = _patterns(key)
            for form in b64:
                if form in text:
                    text = text.replace(form, MASK)
            text = pattern.sub(MASK, text)
    return _KEY_SHAPE.sub(MASK, text)


def scrub_obj(value: Any, scrubber: Callable[[str], str], *, _depth: int = 0) -> Any:
    """Every string inside a JSON value (an error's ``metadata``) through ``scrubber``.

    Depth-limited: the value is a server's JSON, and an absurdly deep one is cut off.
    """
    if isinstance(value, str):
        return scrubber(value)
    if _depth > 20:
        return None
    if isinstance(value, dict):
        return {scrubber(str(k)): scrub_obj(v, scrubber, _depth=_depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_obj(v, scrubber, _depth=_depth + 1) for v in value]
    return value
