"""Flag parsing for ``%%edge`` and ``%edge`` (pure: strings in, namespaces out)."""

from __future__ import annotations

import argparse
import builtins
import functools
import keyword
import re
import shlex
from typing import Any, NoReturn

from ..errors import EdgeError
from ..user_numbers import COUNT, TEMPERATURE, TOKENS, USD, strip_argparse_prefix

FORMATS = ("markdown", "text", "code", "json")
_NEGATIVE = re.compile(r"^-(\d+\.?\d*|\.\d+|inf|infinity|nan)(e[+-]?\d+)?$", re.IGNORECASE)


class UsageError(EdgeError):
    """Bad flags: the message says what is wrong and how to ask for help."""


class HelpRequested(Exception):  # control flow, not an error
    """``--help`` was given; the exception carries the help text to show."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of printing and exiting the kernel."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "-inf" and "-nan" are values to refuse with the flag's own message, not unknown
        # flags ("expected one argument"); argparse only knows digits as negative numbers.
        self._negative_number_matcher = _NEGATIVE

    def error(self, message: str) -> NoReturn:
        # a flag's own message often ends its sentence already: one full stop, not "..".
        message = strip_argparse_prefix(message).rstrip(".")
        raise UsageError(f"{self.prog}: {message}. See `{self.prog} --help`.")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise HelpRequested(self.format_help())

    def print_help(self, file: object = None) -> None:
        raise HelpRequested(self.format_help())


@functools.lru_cache(maxsize=1)
def cell_parser() -> _Parser:
    """The ``%%edge`` parser, built once (argparse parsers are reusable; building costs ~1 ms)."""
    from ..calls import PDF_ENGINES  # here, not at import: ``%load_ext`` stays cheap

    p = _Parser(
        prog="%%edge",
        description="Ask one or more models; the cell body is the prompt, with {expr} interpolation.",
        epilog="Example:\n  %%edge -m openai/gpt-4o-mini -m anthropic/claude-3.5-haiku --chat ideas\n"
               "  Give me three names for a {topic} blog\n\n"
               "Notebook values go in as they are: a figure or image as an image, a PDF as a file,\n"
               "a DataFrame as a compact table (capped; {df:full} sends it whole):\n"
               "  %%edge -m openai/gpt-4o-mini -a scan.pdf\n"
               "  What is wrong with this plot? {fig} The data: {df}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-m", "--model", action="append", default=[], metavar="MODEL",
                   help='OpenRouter model id, optionally with options ("MODEL temperature=0.2 '
                        'provider=azure"); repeat to ask several models at once')
    p.add_argument("--chat", metavar="NAME", help="continue (or start) the named conversation")
    p.add_argument("-s", "--system", metavar="SYSTEM", help="system prompt")
    p.add_argument("-t", "--temperature", type=TEMPERATURE.argtype(), metavar="T", help="sampling temperature, 0-2")
    p.add_argument("--max-tokens", type=TOKENS.argtype(), metavar="N", help="cap on completion tokens")
    p.add_argument("-f", "--format", choices=FORMATS, default="markdown",
                   help="how to show the answer (default: markdown)")
    p.add_argument("--insert", action="store_true",
                   help="with -f code: put the code into a new cell below")
    p.add_argument("-o", "--output", metavar="VAR", help="store the result in this variable")
    p.add_argument("--budget", type=USD.argtype(), metavar="USD",
                   help="spending limit for this cell, in USD")
    p.add_argument("--no-stream", action="store_true", help="wait for the whole answer instead of streaming")
    p.add_argument("--replay", action="store_true",
                   help="re-use the stored answer of an identical earlier call, for $0 and offline")
    p.add_argument("--fresh", action="store_true", help="ask again even in replay mode")
    p.add_argument("-p", "--participants", metavar="NAME",
                   help="a saved participant set (`%%edge participants save NAME ...`)")
    p.add_argument("-a", "--attach", action="append", default=[], metavar="PATH",
                   help="send this image (PNG, JPEG, GIF, WebP) or PDF after the prompt's text; "
                        "repeat for several. In the text, {fig}, {img}, {Path('scan.pdf')} "
                        "send a value where it stands; {df:full} sends a table whole")
    p.add_argument("--pdf-engine", choices=PDF_ENGINES, metavar="ENGINE",
                   help="how OpenRouter reads a PDF for a model without file input: "
                        "cloudflare-ai (free, the default), mistral-ocr ($0.002 a page: scans), "
                        "native (the model's own file input)")
    p.add_argument("--schema", metavar="NAME",
                   help="answer as JSON fitting this pydantic model, dataclass, TypedDict or "
                        "JSON-Schema dict of the notebook; _edge.value is the validated instance")
    p.add_argument("--heal", action="store_true",
                   help="with --schema: OpenRouter's response-healing plugin repairs malformed JSON")
    p.add_argument("--or-cache", action="store_true",
                   help="ask OpenRouter's response cache: the same request again within its "
                        "lifetime is answered from it for $0 (%%config EdgeMagics.openrouter_cache "
                        "= True for every cell)")
    p.add_argument("--cache-prompt", action="store_true",
                   help="mark the system prompt and long context for the provider's prompt "
                        "cache (cache_control, for Anthropic and Gemini models; others cache "
                        "on their own): later turns read them at the cache price")
    from ..calls import REASONING_EFFORTS

    p.add_argument("--reasoning", choices=REASONING_EFFORTS, metavar="EFFORT",
                   help="how hard a reasoning model thinks: " + "|".join(REASONING_EFFORTS)
                        + " (refused for a model that does not reason)")
    p.add_argument("--reasoning-tokens", type=TOKENS.argtype(), metavar="N",
                   help="cap on the tokens a reasoning model thinks with")
    p.add_argument("--hide-reasoning", action="store_true",
                   help="do not show the model's reasoning (it still reasons, and is billed)")
    p.add_argument("--tools", metavar="F,G",
                   help="let the model call these functions of the notebook (comma-separated "
                        "names); each step is priced, checked against the budgets and recorded")
    p.add_argument("--max-steps", type=COUNT.argtype(), metavar="N", default=10,
                   help="with --tools: model requests at most (default 10)")
    p.add_argument("--confirm-tools", action="store_true",
                   help="with --tools: ask before each call runs")
    from ..calls import WEB_ENGINES

    p.add_argument("--web", action="store_true",
                   help="let the model search the web (OpenRouter's web search, billed per "
                        "search); the answer's sources are listed under it")
    p.add_argument("--web-results", type=COUNT.argtype(), metavar="N",
                   help="with --web: results per search (OpenRouter's default: 5)")
    p.add_argument("--web-engine", choices=WEB_ENGINES, metavar="ENGINE",
                   help="with --web: " + "|".join(WEB_ENGINES) + " (default auto: the provider's "
                        "own search where it has one, else Exa)")
    p.add_argument("--web-searches", type=COUNT.argtype(), metavar="N",
                   help="with --web: searches per request at most (default 3), so the "
                        "estimate and budgets can bound them")
    from ..routing import SERVICE_TIERS, add_route_arguments, tier_arg

    p.add_argument("--tier", type=tier_arg, metavar="TIER",
                   help=f"OpenRouter service tier: {'|'.join(SERVICE_TIERS)} (flex: about half "
                        "price where the provider has it, may queue; priority: faster, dearer); "
                        "the cost line says which tier served, billed at it")
    add_route_arguments(p)
    return p


#: Names IPython itself keeps in the user namespace: overwriting one breaks the session
#: (``-o get_ipython`` stops every magic), and ``_edge`` is where every cell's result goes.
_IPYTHON_NAMES = frozenset({"get_ipython", "exit", "quit", "In", "Out", "_", "__", "___",
                            "_i", "_ii", "_iii", "_oh", "_dh", "_ih", "_sh", "_edge"})
_IPYTHON_NUMBERED = re.compile(r"^_i?\d+$")  # _5 and _i5: the outputs and inputs of cell 5


def output_name_problem(name: str) -> str:
    """Why ``-o NAME`` cannot be used ("" when it can): not a name, a keyword, IPython's own."""
    if not name.isidentifier():
        return "is not a valid Python variable name"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return "is a Python keyword"
    if name in _IPYTHON_NAMES or _IPYTHON_NUMBERED.match(name):
        return "is a name IPython uses itself"
    if hasattr(builtins, name):  # -o print, -o list: the notebook's own code would break next
        return "would hide the Python builtin of that name"
    return ""


def parse_cell_line(line: str) -> argparse.Namespace:
    """Parse the ``%%edge`` line; raises UsageError or HelpRequested."""
    try:
        argv = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"%%edge: cannot read the flags ({exc}); check the quotes.") from None
    args = cell_parser().parse_args(argv)
    if args.output is not None:
        problem = output_name_problem(args.output)
        if problem:
            raise UsageError(f"%%edge: -o {args.output!r} {problem}; pick another name, e.g. -o answer.")
    if args.heal and not args.schema:
        raise UsageError("%%edge: --heal only works with --schema NAME.")
    for flag, given in (("--max-steps", args.max_steps != 10), ("--confirm-tools", args.confirm_tools)):
        if given and not args.tools:
            raise UsageError(f"%%edge: {flag} only works with --tools F,G.")
    for flag, given in (("--web-results", args.web_results), ("--web-engine", args.web_engine),
                        ("--web-searches", args.web_searches)):
        if given is not None and not args.web:
            raise UsageError(f"%%edge: {flag} only works with --web.")
    if args.insert and args.format != "code":
        raise UsageError("%%edge: --insert only works with -f code.")
    return args


def split_line(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"%edge: cannot read the arguments ({exc}); check the quotes.") from None


def sub_parser(prog: str, description: str) -> _Parser:
    """A parser for one ``%edge`` subcommand (so each has its own ``--help``)."""
    return _Parser(prog=f"%edge {prog}", description=description)
