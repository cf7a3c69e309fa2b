"""``_edge``: the result of a call, with the usage ledger's field names."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..content import Attachment
from ..money import exact_usd, total_usd
from ..record import CallRecord


@dataclass(repr=False)
class EdgeResult(CallRecord):
    """One model's answer and its figures.  ``str(result)`` is the answer's text;
    ``value`` is what the chosen format made of it (parsed JSON, extracted code…)."""

    value: Any = None
    #: the participant's own options ("temperature=0.2, provider=azure"), if any
    options: str = ""
    #: how the answer is shown when displayed: markdown, text, code or json (``format=``)
    format: str = "markdown"
    #: shown with the answer when it is displayed: low balance above, facts below
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: a view already showed it (``stream=True`` in a kernel): displayed again, only the cost line
    shown: bool = False
    #: this turn's images and files as sent (thumbnails in the answer's output)
    attachments: tuple[Attachment, ...] = ()
    #: the schema asked for (``--schema``, ``schema=``): ``value`` is its validated instance
    schema: Any = field(default=None, compare=False)
    #: why the answer does not fit the schema ("" when it does, or none was asked for);
    #: the call is paid for, so ``status`` stays ``ok`` and this is also in ``error``
    invalid: str = ""
    #: a tool loop's steps, each the record of its ledger row (this record sums them)
    steps: tuple[EdgeResult, ...] = field(default=(), compare=False)
    #: the function calls a tool loop ran, in order (``edge_jupyter.tools.ToolOutcome``)
    tool_calls: tuple[Any, ...] = field(default=(), compare=False)
    #: the web pages the answer cites (``openrouter.Citation``: url, title, content)
    citations: tuple[Any, ...] = ()

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        preview = self.text if len(self.text) <= 60 else self.text[:57] + "…"
        return (f"EdgeResult(model={self.model!r}, status={self.status!r}, "
                f"cost_usd={exact_usd(self.cost_usd)}, completion_tokens={self.completion_tokens}, "
                f"text={preview!r})")

    def apply_format(self, fmt: str) -> str | None:
        """Set ``format`` and ``value`` (parsed JSON, extracted code…); returns a note when
        the answer does not fit the format (JSON that does not parse). With a schema the
        answer is JSON and ``value`` stays the validated instance (:meth:`check_schema`)."""
        if self.schema is not None:
            self.format = "json"
            return self.invalid or None
        self.format = fmt
        self.value, note = _value(self)
        return note

    def check_schema(self, schema: Any) -> None:
        """``value`` ← the answer validated against ``schema`` (a ``structured.Schema``);
        an answer that does not fit keeps its text, ``value`` None, the reason in
        ``invalid`` and, for a paid ``ok`` answer, in ``error`` (the ledger notes it)."""
        from ..structured import validate

        self.schema, self.format = schema, "json"
        if self.status not in ("ok", "replayed"):
            return  # a failed or cut answer: its own error says why
        try:
            self.value, self.invalid = validate(schema, self.text), ""
        except ValueError as exc:
            self.value, self.invalid = None, str(exc)
            self.error = self.error or self.invalid

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None
                          ) -> tuple[dict[str, Any], dict[str, Any]]:
        """How a notebook shows it, as a ``%%edge`` answer: rendered safely, cost line,
        receipt in the metadata (built here from pure modules: the engine has no IPython).

        The only rich form: IPython fills a type missing here from ``_repr_html_`` and the
        like, so there are none (a streamed answer would otherwise be shown twice). Never
        ``text/markdown``: the frontend would render raw HTML in the answer (see _render)."""
        from ..answer_format import cost_line_text, receipt_metadata, warning_html

        if self.shown:  # streamed into the cell already: the answer is not shown twice
            return {"text/plain": _plain(cost_line_text(self))}, {}
        parts = [warning_html(w) for w in self.warnings]
        parts.append(_sent_html(self.attachments))  # what the model saw, kept in the notebook
        answer, plain = _answer_parts(self)
        parts.append(answer)
        parts += [warning_html(n) for n in self.notes]
        return ({"text/html": "".join(parts), "text/plain": plain}, receipt_metadata(self))


def _sent_html(attachments: tuple[Attachment, ...]) -> str:
    """The collapsible thumbnails of what a call sent ("" when it sent only text)."""
    if not attachments:
        return ""
    from ..content import thumbnails_html

    return thumbnails_html(attachments)


def _plain(text: str) -> str:
    from ..untrusted_text import strip_controls  # the answer may hold terminal sequences

    return strip_controls(text)


def _value(record: EdgeResult) -> tuple[Any, str | None]:
    from ..answer_format import extract_code, parse_json_answer

    if record.format == "code":
        return extract_code(record.text)[0], None
    if record.format == "json":
        try:
            return parse_json_answer(record.text), None
        except ValueError as exc:
            return None, (str(exc) if record.status == "ok" else None)
    return record.text, None


def _answer_parts(record: EdgeResult) -> tuple[str, str]:
    """One answer as (HTML, plain text): the answer in its format, then its cost line.

    The answer is untrusted: Markdown is rendered with raw HTML off and sanitised, every
    other format escaped, every plain form stripped of control characters."""
    from ..answer_format import code_html, cost_line_html, cost_line_text, error_html
    from ..untrusted_text import markdown_to_safe_html

    cost_html, cost_text = cost_line_html(record), cost_line_text(record)
    if record.status == "error" and not record.text:
        return (error_html(record.error, record.model) + cost_html,
                _plain(f"{record.model}: {record.error}\n{cost_text}"))
    value = record.value if record.value is not None else _value(record)[0]
    if record.format == "code":
        from ..answer_format import extract_code

        body, shown = code_html(str(value), extract_code(record.text)[1]), str(value)
    elif record.format == "json" and value is not None:
        shown = json.dumps(value, indent=2, ensure_ascii=False)
        body = f"<pre>{html.escape(shown)}</pre>"
    elif record.format in ("text", "json"):
        shown = record.text
        body = f'<pre style="white-space:pre-wrap">{html.escape(_plain(shown))}</pre>'
    else:
        shown, body = record.text, markdown_to_safe_html(record.text)
    if record.status == "error":
        body += error_html(record.error, record.model)
    return body + cost_html, _plain(f"{shown}\n{cost_text}")


class EdgeResults(list):
    """The results of a cell that asked several models: a list of :class:`EdgeResult`,
    plus ``comparison``, the same figures side by side as a DataFrame."""

    def __init__(self, results: Iterable[EdgeResult] = (), *, warnings: Iterable[str] = (),
                 notes: Iterable[str] = (), shown: bool = False) -> None:
        super().__init__(results)
        self.warnings = list(warnings)
        self.notes = list(notes)
        self.shown = shown

    @property
    def cost_usd(self) -> float:
        """What the answers cost together (exact: Decimal over each cost; unknown ones left out)."""
        return total_usd([r.cost_usd for r in self])

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        # IPython's printer for ``list`` would replace the bundle's text/plain with the list's
        # repr (answer previews, even after they were streamed); a class's own method wins.
        p.text(self._repr_mimebundle_()[0]["text/plain"])

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None
                          ) -> tuple[dict[str, Any], dict[str, Any]]:
        """As a multi-model cell shows them: each model's answer and cost line, the total;
        one receipt per model in the metadata (``{"receipts": [...]}``, which
        ``receipts.collect`` reads)."""
        from ..answer_format import receipt_entries, total_line_text, warning_html

        total = total_line_text(self, self.cost_usd)
        if self.shown:
            return {"text/plain": total}, {}
        parts = [warning_html(w) for w in self.warnings]
        # the models were sent the same attachments: their thumbnails once, above the answers
        parts.append(_sent_html(self[0].attachments if self else ()))
        plain = []
        for r in self:
            answer, text = _answer_parts(r)
            parts.append(f"<h4>{html.escape(_plain(r.model))}</h4>{answer}")
            plain.append(f"== {r.model}\n{text}")
        parts.append(f'<div class="edge-total" style="font-weight:600;margin-top:0.4em">'
                     f"{html.escape(total)}</div>")
        parts += [warning_html(n) for n in self.notes]
        receipts = [entry for r in self for entry in receipt_entries(r)]  # a loop: each step
        return ({"text/html": "".join(parts), "text/plain": _plain("\n\n".join([*plain, total]))},
                {"edge_jupyter": {"receipts": receipts}})

    @property
    def comparison(self) -> Any:
        import pandas as pd

        rows = [{"model": r.model, "options": r.options, "provider": r.provider, "status": r.status,
                 "cost_usd": r.cost_usd, "upstream_cost_usd": r.upstream_cost_usd,
                 "is_byok": r.is_byok, "prompt_tokens": r.prompt_tokens,
                 "completion_tokens": r.completion_tokens, "reasoning_tokens": r.reasoning_tokens,
                 "ttft_s": r.ttft_s, "tokens_per_s": r.tokens_per_second(), "latency_s": r.latency_s,
                 "finish_reason": r.finish_reason} for r in self]
        return pd.DataFrame(rows).set_index("model")

    # OpenRouter credits (cost_usd) and the provider's own bill for BYOK calls
    # (upstream_cost_usd) are different bills: the columns are kept apart, never summed.
