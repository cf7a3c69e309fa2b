"""The one error tree: every error class of edge_jupyter is an EdgeError, drawn in errors.py.

Every module of the package is imported (the sandbox excepted: it is the OpenRouter
look-alike, its errors model the server's, and none reaches a user of the product), every
exception class defined there is found, and each must be an ``EdgeError`` — or one of the
few named control-flow classes below, with the reason.  The drawing in ``errors.py``'s
docstring is checked against the same classes: each is drawn, under its real parent, with
the module that defines it, and nothing drawn is missing from the code.  So adding
``class FooError(Exception)`` anywhere fails here twice (not an EdgeError, not drawn).
"""

from __future__ import annotations

import importlib
import re
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

import edge_jupyter
from edge_jupyter import errors
from edge_jupyter.errors import EdgeError

PACKAGE = Path(edge_jupyter.__file__).parent
#: Not errors but control flow (or a warning); each stays outside the tree for the reason given.
CONTROL_FLOW = {
    "edge_jupyter.calls._errors.EdgeInterrupted":
        "a KeyboardInterrupt: `except Exception` must not swallow an interrupt; Run All stops",
    "edge_jupyter.magics._args.HelpRequested":
        "carries the --help text out of argparse to be printed; nothing failed",
    "edge_jupyter.openrouter._client._TooLarge":
        "private to the client's capped read loop; caught there, never escapes",
    "edge_jupyter.openrouter._client._TooSlow":
        "private to the client's deadline read loop; caught there, never escapes",
    "edge_jupyter.api.LowBalanceWarning":
        "a UserWarning given with warnings.warn (the Python API's low-balance alert), not raised",
}


def module_names() -> list[str]:
    """Every module of the package by walking its files (namespace packages included)."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if "sandbox" in parts or "__pycache__" in parts:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


def exception_classes(module: types.ModuleType) -> list[type[BaseException]]:
    """The exception classes ``module`` itself defines (not the ones it imports)."""
    return [v for v in vars(module).values()
            if isinstance(v, type) and issubclass(v, BaseException)
            and v.__module__ == module.__name__]


def qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def outside_the_tree(classes: list[type[BaseException]]) -> list[str]:
    """The classes that are not EdgeErrors and not named control flow, with their bases."""
    return [f"{qualified(c)}({', '.join(b.__name__ for b in c.__bases__)})" for c in classes
            if not issubclass(c, EdgeError) and qualified(c) not in CONTROL_FLOW]


@pytest.fixture(scope="module")
def classes() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for name in module_names():
        found += exception_classes(importlib.import_module(name))
    return found


@dataclass(frozen=True)
class Drawn:
    name: str
    module: str
    parent: str | None


_LINE = re.compile(r"^    (?P<prefix>(?:│   |    |├── |└── )*)(?P<names>_?\w+(?:, _?\w+)*)"
                   r"(?: \(\w+\))?\s+(?P<module>edge_jupyter\.[\w.]+)")


def drawing(doc: str) -> tuple[list[Drawn], list[Drawn]]:
    """The tree and the "outside the tree" list as drawn in ``doc``."""
    tree_text, _, outside_text = doc.partition("Outside the tree")
    tree: list[Drawn] = []
    stack: list[str] = []
    for line in tree_text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        depth = len(m["prefix"]) // 4
        del stack[depth:]
        tree.append(Drawn(m["names"], m["module"], stack[-1] if stack else None))
        stack.append(m["names"])
    outside = [Drawn(name, m["module"], None)
               for m in map(_LINE.match, outside_text.splitlines()) if m
               for name in m["names"].split(", ")]
    return tree, outside


def test_every_error_class_of_the_package_is_an_edge_error(classes) -> None:
    assert len(classes) > 40  # the walk found the package's errors, not nothing
    assert outside_the_tree(classes) == []


def test_the_control_flow_exceptions_named_here_still_exist(classes) -> None:
    assert set(CONTROL_FLOW) <= {qualified(c) for c in classes}


def test_the_check_catches_a_new_error_that_is_not_an_edge_error() -> None:
    fake = types.ModuleType("edge_jupyter.fake")
    exec("class FooError(Exception):\n    pass\n", fake.__dict__)
    assert outside_the_tree(exception_classes(fake)) == ["edge_jupyter.fake.FooError(Exception)"]
    exec("from edge_jupyter.errors import EdgeError\nclass FooError(EdgeError):\n    pass\n",
         fake.__dict__)
    assert outside_the_tree(exception_classes(fake)) == []


def test_the_drawing_names_every_error_under_its_real_parent_and_module(classes) -> None:
    tree, _ = drawing(errors.__doc__ or "")
    drawn = {d.name: d for d in tree}
    assert len(drawn) == len(tree), "a class is drawn twice"
    problems = []
    for cls in classes:
        if not issubclass(cls, EdgeError):
            continue
        d = drawn.get(cls.__name__)
        if d is None:
            problems.append(f"{qualified(cls)} is not drawn")
            continue
        if d.module != cls.__module__:
            problems.append(f"{cls.__name__} is drawn in {d.module}, defined in {cls.__module__}")
        if cls is not EdgeError and d.parent not in {b.__name__ for b in cls.__bases__}:
            problems.append(f"{cls.__name__} is drawn under {d.parent}, its bases are "
                            f"{[b.__name__ for b in cls.__bases__]}")
    assert problems == []
    assert tree[0] == Drawn("EdgeError", "edge_jupyter.errors", None)


def test_nothing_drawn_is_missing_from_the_code() -> None:
    tree, outside = drawing(errors.__doc__ or "")
    missing = [f"{d.module}.{d.name}" for d in (*tree, *outside)
               if not isinstance(getattr(importlib.import_module(d.module), d.name, None), type)]
    assert missing == []
    assert {f"{d.module}.{d.name}" for d in outside} == set(CONTROL_FLOW)


def test_the_drawing_check_catches_a_stale_drawing() -> None:
    stale = """
    EdgeError                           edge_jupyter.errors
    ├── DataError                       edge_jupyter.storage
    │   └── DamagedFile                 edge_jupyter.storage
    └── BudgetExceeded                  edge_jupyter.ledger._errors
    """
    tree, _ = drawing(stale)
    assert tree[2] == Drawn("DamagedFile", "edge_jupyter.storage", "DataError")
    # BudgetExceeded is drawn under EdgeError, but its parent is LedgerError: the test above
    # would name it.
    assert tree[3].parent == "EdgeError"
    from edge_jupyter.ledger import BudgetExceeded

    assert tree[3].parent not in {b.__name__ for b in BudgetExceeded.__bases__}


# -- the one line --------------------------------------------------------------------------------


@pytest.mark.parametrize("line", ["--max-price nan/1", "--provider nonsense-x"])
def test_a_flag_error_is_one_sentence_with_one_full_stop(line) -> None:
    from edge_jupyter.magics._args import UsageError, parse_cell_line

    with pytest.raises(UsageError) as refused:
        parse_cell_line(line)
    text = str(refused.value)
    assert ".." not in text  # was "… not nan.. See `%%edge --help`."
    assert text.endswith(". See `%%edge --help`.")
