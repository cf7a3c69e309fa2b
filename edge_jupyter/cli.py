"""``edge-jupyter``: the demo, the sandbox, and a one-off question from the terminal."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

QUICKSTART = Path(__file__).resolve().parent.parent / "notebooks" / "quickstart.ipynb"


def _quickstart_path() -> Path:
    if QUICKSTART.exists():
        return QUICKSTART
    from importlib.resources import files

    return Path(str(files("edge_jupyter") / "data" / "quickstart.ipynb"))


def cmd_demo(args: argparse.Namespace) -> int:
    """Start the sandbox, run the quickstart notebook in a real kernel, say where the result is."""
    import nbformat
    from jupyter_client import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from .sandbox import Sandbox

    source = Path(args.notebook) if args.notebook else _quickstart_path()
    default_out = (source.with_name(source.stem + ".executed.ipynb") if source == QUICKSTART
                   else Path.cwd() / (source.stem + ".executed.ipynb"))
    out = Path(args.output) if args.output else default_out
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="edge-demo-"))
    with Sandbox(tokens_per_second=args.tokens_per_second) as sb:
        print(f"sandbox      {sb.url}  (an OpenRouter look-alike on this machine: no account, no network)")
        env_before = dict(os.environ)
        os.environ.update({"EDGE_OPENROUTER_URL": sb.url, "OPENROUTER_API_KEY": sb.key,
                           "EDGE_DATA_DIR": str(data_dir)})
        try:
            nb = nbformat.read(source, as_version=4)
            # IPC sockets: the kernel is reachable only by this user (and ipykernel
            # stops warning about unencrypted TCP).
            km = KernelManager(kernel_name="python3", transport="ipc",
                               ip=str(Path(tempfile.mkdtemp(prefix="edge-kernel-")) / "k"))
            client = NotebookClient(nb, km=km, timeout=120, kernel_name="python3",
                                    resources={"metadata": {"path": str(source.parent)}})
            started = time.perf_counter()
            print(f"running      {source.name} in a real kernel …")
            try:
                client.execute()
            except CellExecutionError as exc:
                nbformat.write(nb, out)
                print(f"FAILED       {exc}".splitlines()[0], file=sys.stderr)
                print(f"partial run  {out}", file=sys.stderr)
                return 1
            finally:
                if km.has_kernel:  # nbclient leaves a kernel it did not create running
                    km.shutdown_kernel(now=True)
        finally:
            os.environ.clear()
            os.environ.update(env_before)
        nbformat.write(nb, out)
        elapsed = time.perf_counter() - started
    _print_summary(nb)
    print(f"executed     {out}  ({elapsed:.1f} s)")
    print(f"data folder  {data_dir}  (usage ledger, conversations, preferences)")
    print(f"open it      jupyter lab {out}")
    return 0


def _print_summary(nb: Any) -> None:
    """The cost lines of the executed notebook, as a terminal user would want to see them."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text = output.get("data", {}).get("text/plain", "")
            if isinstance(text, str) and (text.startswith("💰") or text.startswith("Σ")):
                print(f"  {text}")


def cmd_sandbox(argv: list[str]) -> int:
    from .sandbox.cli import main

    return main(argv)


def cmd_ask(args: argparse.Namespace) -> int:
    """Stream one answer in the terminal, then its exact cost: a front-end of the call
    engine, so the call is a ledger row, respects the budgets and warns of a low balance."""
    from . import calls
    from .answer_format import cost_line_text
    from .errors import EdgeError
    from .terminal_view import TerminalView
    from .untrusted_text import strip_controls

    # The answer and anything the server said reach a terminal: control characters go.
    show = TerminalView(warnings=sys.stderr, show_reasoning=not args.hide_reasoning)

    try:
        request = calls.Request(prompt=_prompt(args), models=[args.model] if args.model else [],
                                max_tokens=args.max_tokens, budget=args.budget, label="cli",
                                pdf_engine=args.pdf_engine, reasoning=args.reasoning,
                                reasoning_tokens=args.reasoning_tokens, web=args.web,
                                web_engine=args.web_engine, web_searches=args.web_searches,
                                tier=args.tier)
        outcome = calls.CallRun(calls.plan(request), show).execute()
    except calls.EdgeInterrupted as exc:
        print(f"\n{strip_controls(str(exc))}", file=sys.stderr)
        return 130
    except calls.CallsBroke as exc:  # sent, then broke: recorded as an error
        print(f"edge-jupyter ask: {strip_controls(str(exc))}", file=sys.stderr)
        return 1
    except EdgeError as exc:  # nothing sent: not connected, refused by a budget, a bad option…
        print(f"edge-jupyter ask: {strip_controls(str(exc))}", file=sys.stderr)
        return 2
    record = outcome.records[0]
    if record.citations:  # a web search's sources, numbered as the answer's [1] markers
        from .answer_format import citations_text

        print("\n" + strip_controls(citations_text(record.citations)))
    print("\n" + strip_controls(cost_line_text(record)))
    for note in outcome.notes:
        print(strip_controls(f"note: {note}"), file=sys.stderr)
    if outcome.interrupted:
        print(strip_controls(outcome.interrupt_message()), file=sys.stderr)
        return 130
    if record.status == "error":
        print(strip_controls(f"error: {record.error}"), file=sys.stderr)
        return 1
    return 0


def _prompt(args: argparse.Namespace) -> Any:
    """The words of the question, then each ``--attach`` image or PDF (a str when none)."""
    text = " ".join(args.prompt)
    if not args.attach:
        return text
    from .content import Prompt, attach

    return Prompt.of([text]).plus(attach(path) for path in args.attach)


def main(argv: list[str] | None = None) -> int:
    from .calls import PDF_ENGINES, REASONING_EFFORTS, WEB_ENGINES
    from .user_numbers import COUNT, RATE, TOKENS, USD  # the same checks as the magics' flags

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sandbox"]:
        return cmd_sandbox(argv[1:])
    if argv[:1] == ["hub"]:  # the JupyterHub admin's commands (edge_jupyter.hub)
        from .hub import cli_main

        return cli_main(argv[1:])
    parser = argparse.ArgumentParser(prog="edge-jupyter", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the quickstart notebook against the built-in sandbox")
    demo.add_argument("--notebook", help="another notebook to run (default: the quickstart)")
    demo.add_argument("--output", help="where to write the executed notebook")
    demo.add_argument("--data-dir", help="EDGE_DATA_DIR for the run (default: a new temporary folder)")
    demo.add_argument("--tokens-per-second", type=RATE.argtype(), default=300.0,
                      help="pace the sandbox like a real model (0 = as fast as possible)")
    sub.add_parser("sandbox", help="serve the OpenRouter-compatible sandbox (see `sandbox --help`)")
    sub.add_parser("hub", help="JupyterHub users' OpenRouter keys: `hub usage`, `hub set-limit`, "
                              "`hub forget` (see `hub --help`)")
    ask = sub.add_parser("ask", help="stream one answer in the terminal, with its cost")
    ask.add_argument("prompt", nargs="+")
    ask.add_argument("-m", "--model")
    ask.add_argument("--max-tokens", type=TOKENS.argtype())
    ask.add_argument("--budget", type=USD.argtype(), metavar="USD",
                     help="spending limit for this call, in USD (the saved budgets apply too)")
    ask.add_argument("-a", "--attach", action="append", default=[], metavar="PATH",
                     help="send this image (PNG, JPEG, GIF, WebP) or PDF after the question; repeatable")
    ask.add_argument("--pdf-engine", choices=PDF_ENGINES,
                     help="how a PDF is read by a model without file input (default: cloudflare-ai, free)")
    ask.add_argument("--reasoning", choices=REASONING_EFFORTS, metavar="EFFORT",
                     help="how hard a reasoning model thinks: " + "|".join(REASONING_EFFORTS))
    ask.add_argument("--reasoning-tokens", type=TOKENS.argtype(), metavar="N",
                     help="cap on the tokens a reasoning model thinks with")
    ask.add_argument("--hide-reasoning", action="store_true",
                     help="do not print the reasoning (printed dim above the answer otherwise)")
    ask.add_argument("--web", action="store_true",
                     help="let the model search the web (billed per search; sources printed after it)")
    ask.add_argument("--web-engine", choices=WEB_ENGINES, help="with --web: the search engine (default exa)")
    ask.add_argument("--web-searches", type=COUNT.argtype(), metavar="N",
                     help="with --web: searches at most (default 3)")
    from .routing import tier_arg

    ask.add_argument("--tier", type=tier_arg, metavar="TIER",
                     help="service tier: flex (about half price where the provider has it, may "
                          "queue) or priority (faster, dearer); billed at the tier that served")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return cmd_demo(args)
    return cmd_ask(args)


if __name__ == "__main__":
    sys.exit(main())
