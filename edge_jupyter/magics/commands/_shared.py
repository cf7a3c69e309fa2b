"""What several families of subcommands use: the two-column table and the two clients."""

from __future__ import annotations

import html

from ...openrouter import OpenRouterClient


def display_table(rows: list[tuple[str, str]], title: str) -> None:
    from IPython.display import display

    body = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}</th>"
                   f"<td style='text-align:left'>{html.escape(v)}</td></tr>" for k, v in rows)
    plain = "\n".join(f"{k:>16}: {v}" for k, v in rows)
    # _bundle strips control characters from the plain form: values quote the server
    # (the /key label), and terminal IPython prints text/plain as it is.
    from .._render import _bundle

    display(_bundle(f"<b>{html.escape(title)}</b><table class='edge-table'>{body}</table>",
                    f"{title}\n{plain}"), raw=True)


def public_client() -> OpenRouterClient:
    """For what OpenRouter shows without a key (the model list, a model's endpoints)."""
    return OpenRouterClient(None)


def keyed_client() -> OpenRouterClient:
    """The engine's keyed client (or its one line saying how to connect)."""
    from ...calls import connected_client

    return connected_client()
