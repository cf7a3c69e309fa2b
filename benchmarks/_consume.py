"""``python -m benchmarks._consume SSE_FILE WHICH RUNS``: replay recorded SSE bytes to one consumer.

Run under ``valgrind --tool=cachegrind`` by the streaming benchmark to count the CPU
instructions that the bare loop (``a``) and the client (``b``) spend per token: unlike
time, an instruction count does not change with the load on a shared machine.
``none`` does the set-up only.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ._common import MODEL, chat_body


def main(argv: list[str]) -> int:
    from edge_jupyter.openrouter import OpenRouterClient

    from .streaming import bare_loop, client_loop, mock_client

    raw = Path(argv[0]).read_bytes()
    which, runs = argv[1], int(argv[2])
    body = chat_body(MODEL, "replayed")
    with mock_client(raw) as mock:
        client = OpenRouterClient("sk-or-bench", origin="http://mock.invalid", http=mock)
        for _ in range(runs):
            if which == "a":
                bare_loop(mock, "http://mock.invalid/api/v1/chat/completions", "k", body)
            elif which == "b":
                client_loop(client, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
