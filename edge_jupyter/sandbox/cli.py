"""``edge-jupyter sandbox``: run the sandbox in the foreground until Ctrl-C.

Prints the URL and the environment lines that point edge_jupyter (or any
OpenRouter client) at it, and its management key (``EDGE_PROVISIONING_KEY``, what
``edge_jupyter.hub`` reads). Printing the keys is fine: they are local fakes.
"""

from __future__ import annotations

import argparse
import threading

from ._sandbox import Sandbox


def build_parser() -> argparse.ArgumentParser:
    """The command-line options (separate so the main CLI can embed them)."""
    parser = argparse.ArgumentParser(
        prog="edge-jupyter sandbox",
        description="Run a local OpenRouter-compatible server (no account, no network).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="port (default 8787; 0 = any free port)")
    parser.add_argument("--key", default=None, help="API key to accept (default: a random sk-or-v1-… key)")
    parser.add_argument("--tokens-per-second", type=float, default=30.0,
                        help="streaming pace (default 30; 0 = as fast as possible)")
    parser.add_argument("--answer-length", type=int, default=120,
                        help="answer length in tokens (default 120; '[sandbox:tokens=N]' in a prompt overrides)")
    parser.add_argument("--credits", type=float, default=100.0, help="account balance in USD (default 100)")
    parser.add_argument("--byok", default="", metavar="PROVIDER[,PROVIDER…]",
                        help="bill calls routed to these providers as bring-your-own-key (e.g. amazon-bedrock)")
    parser.add_argument("--down", default="", metavar="PROVIDER[,PROVIDER…]",
                        help="make these providers fail, so routing falls back (e.g. anthropic)")
    return parser


def main(argv: list[str] | None = None, *, stop: threading.Event | None = None) -> int:
    """Start the sandbox, print how to use it, serve until Ctrl-C (or ``stop`` is set)."""
    args = build_parser().parse_args(argv)
    sandbox = Sandbox(host=args.host, port=args.port, key=args.key,
                      tokens_per_second=args.tokens_per_second, answer_length=args.answer_length,
                      credits=args.credits, byok_providers=args.byok, down_providers=args.down)
    try:
        sandbox.start()
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
        return 1
    print(f"edge_jupyter sandbox listening on {sandbox.url}", flush=True)
    print(f"EDGE_OPENROUTER_URL={sandbox.url}")
    print(f"OPENROUTER_API_KEY={sandbox.key}")
    print("# a management key (/credits, /keys, /activity; a JupyterHub's provisioning key):")
    print(f"EDGE_PROVISIONING_KEY={sandbox.management_key}")
    print("# the same key for %edge limit, %edge activity and %edge disconnect --revoke:")
    print(f"OPENROUTER_MANAGEMENT_KEY={sandbox.management_key}")
    print("Press Ctrl-C to stop.", flush=True)
    waiter = stop or threading.Event()
    try:
        while not waiter.wait(0.5):
            pass
    except KeyboardInterrupt:
        print("\nstopping")
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
