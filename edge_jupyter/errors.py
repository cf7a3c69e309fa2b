"""The one error tree of edge_jupyter: every error the project raises is an :class:`EdgeError`.

``except EdgeError`` catches every failure the product reports, and ``str()`` of any of them
is one sentence a person can act on: what happened, then what to do.  The ``%%edge`` magic
turns any of them into that one line in one place (``magics/_magics.py``); the Python API
raises them as they are.  Where a class also has a built-in base (``ValueError``), that is
kept for callers that catch bad input as a ``ValueError``.

The whole tree, each class with the module that defines it (``tests/test_error_tree.py``
checks this drawing against the code: every error class of the package is drawn, under its
real parent, with its real module)::

    EdgeError                           edge_jupyter.errors
    ├── OpenRouterError                 edge_jupyter.openrouter._errors      a call to OpenRouter failed
    │   ├── TransportError              edge_jupyter.openrouter._errors      no complete HTTP answer
    │   │   ├── ConnectionFailed        edge_jupyter.openrouter._errors
    │   │   ├── RequestTimeout          edge_jupyter.openrouter._errors
    │   │   └── StreamInterrupted       edge_jupyter.openrouter._errors
    │   ├── MalformedResponse           edge_jupyter.openrouter._errors
    │   └── APIStatusError              edge_jupyter.openrouter._errors      an error status + body
    │       ├── BadRequest              edge_jupyter.openrouter._errors      400
    │       │   └── UnknownModel        edge_jupyter.openrouter._errors
    │       ├── AuthenticationError     edge_jupyter.openrouter._errors      401
    │       ├── InsufficientCredits     edge_jupyter.openrouter._errors      402
    │       ├── PermissionDenied        edge_jupyter.openrouter._errors      403
    │       │   ├── KeyLimitExceeded    edge_jupyter.openrouter._errors
    │       │   └── ModerationError     edge_jupyter.openrouter._errors
    │       ├── NotFound                edge_jupyter.openrouter._errors      404
    │       ├── RateLimited             edge_jupyter.openrouter._errors      429
    │       └── ProviderError           edge_jupyter.openrouter._errors      5xx, or inside a stream
    ├── ImpossibleFigure                edge_jupyter.openrouter._types       a server figure that cannot be true (also a ValueError)
    ├── LedgerError                     edge_jupyter.ledger._errors          the usage ledger cannot do what was asked
    │   ├── BudgetExceeded              edge_jupyter.ledger._errors          a call's worst case does not fit a limit
    │   └── LedgerFileError             edge_jupyter.ledger._db              the ledger file cannot be used (also a DataError)
    ├── UnknownPrice                    edge_jupyter.ledger.budgets          a price a budget cannot use (also a ValueError)
    ├── DataError                       edge_jupyter.storage                 a file under EDGE_DATA_DIR cannot be used
    │   ├── DataFileError               edge_jupyter.storage
    │   ├── DamagedFile                 edge_jupyter.storage
    │   ├── AttachmentGone              edge_jupyter.content._store          a saved chat's attachment is missing or damaged
    │   └── PreferencesDamaged          edge_jupyter.preferences
    ├── KeyStoreError                   edge_jupyter.keystore._errors        the API key cannot be stored or read
    │   ├── NoSecureStore               edge_jupyter.keystore._errors
    │   └── KeyringLocked               edge_jupyter.keystore._errors
    ├── AccountError                    edge_jupyter.account                 the account's keys or activity: no management key, key not found
    ├── NotConnected                    edge_jupyter.calls._errors           no API key: nothing can be sent
    ├── CallRefused                     edge_jupyter.calls._errors           refused before sending (budget, price, images)
    ├── NothingSent                     edge_jupyter.calls._errors
    ├── CallsBroke                      edge_jupyter.calls._errors
    ├── RoutingError                    edge_jupyter.routing._errors         a routing preference (also a ValueError)
    ├── ParticipantError                edge_jupyter.participants            a participant spec or set (also a ValueError)
    ├── NumberError                     edge_jupyter.user_numbers            a number that cannot be used (also a ValueError)
    ├── ConversationError               edge_jupyter.conversations           a ``--chat`` conversation
    ├── ReceiptError                    edge_jupyter.receipts                a notebook's receipts (also a ValueError)
    ├── BatchError                      edge_jupyter.batch                   a ``map`` that cannot start
    │   └── BatchApiError               edge_jupyter.batch_api               a Batch API batch that cannot be sent, read or cancelled
    ├── FlowError                       edge_jupyter.oauth.flows             a sign-in flow id that cannot be used
    ├── HubError                        edge_jupyter.hub._errors             a JupyterHub user's key cannot be made, kept or changed
    │   └── HubStoreError               edge_jupyter.hub._errors             the hub's key store (file, crypt key) cannot be used
    ├── UsageError                      edge_jupyter.magics._args            bad flags of ``%%edge`` / ``%edge``
    ├── ApiUsageError                   edge_jupyter.api                     a bad argument of ``ask``/``Chat`` (also a ValueError)
    ├── AnswerFailed                    edge_jupyter.api                     every model of an ``ask`` failed; carries the results
    ├── SchemaError                     edge_jupyter.structured._errors      ``--schema``/``schema=`` is not a schema
    ├── AnswerInvalid                   edge_jupyter.structured._errors      a paid answer that does not fit the schema; carries it
    ├── ToolError                       edge_jupyter.tools._errors           a function that cannot be a tool, or a ``--tools`` name
    ├── InterpolationError              edge_jupyter.magics._interpolate     a ``{…}`` of a prompt
    ├── AttachmentError                 edge_jupyter.content._errors         a value that cannot be sent (size, kind, missing file)
    └── EdgeCellError                   edge_jupyter.magics._errors          the cell's one line, as IPython shows it

Outside the tree, on purpose (control flow and warnings, not errors)::

    EdgeInterrupted (KeyboardInterrupt) edge_jupyter.calls._errors           an interrupt must not be swallowed
                                                                             by ``except Exception``; Run All stops
    HelpRequested                       edge_jupyter.magics._args            carries ``--help`` text out of argparse
    _TooLarge, _TooSlow                 edge_jupyter.openrouter._client      private to the client's read loop
    LowBalanceWarning (UserWarning)     edge_jupyter.api                     issued with warnings.warn; the call succeeds
"""

from __future__ import annotations


class EdgeError(Exception):
    """Root of every error edge_jupyter raises; its message says what happened and what to do."""
