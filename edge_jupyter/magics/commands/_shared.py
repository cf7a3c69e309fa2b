"""What several families of subcommands use: the two-column table and the two clients."""

from __future__ import annotations

import html

from ...openrouter import OpenRouterClient
from .._errors import EdgeCellError


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


# lead: switch to calls.connected_client
def keyed_client() -> OpenRouterClient:
    """A client with the key the key store resolves, or the one line saying how to connect."""
    from ...keystore import resolve_api_key

    resolved = resolve_api_key()
    if not resolved.key:
        reason = f" ({resolved.problem})" if getattr(resolved, "problem", "") else ""
        raise EdgeCellError(
            f"Not connected to OpenRouter{reason}: run `%edge connect` "
            "(or set OPENROUTER_API_KEY where Jupyter starts).")
    return OpenRouterClient(resolved.key)
