"""The import rules of edge_jupyter (the table in `architecture_rules.py`), checked on the source.

The first tests check the real tree; the rest run the same checker over small synthetic packages
written to `tmp_path`, one broken rule each, to show every rule can fail and is reported with the
module, the line, the imported name and the rule.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import architecture_rules as rules
import pytest

ROOT = Path(__file__).resolve().parent.parent / "edge_jupyter"


# ---------------------------------------------------------------- the real tree


class Tree(tuple[dict[str, Path], list[rules.Import]]):
    """(modules, imports) with a one-line repr, so a failure shows the violations, not the tree."""

    def __repr__(self) -> str:
        return f"<{ROOT}: {len(self[0])} modules, {len(self[1])} imports>"


@pytest.fixture(scope="module")
def real() -> Tree:
    return Tree((rules.module_names(ROOT), rules.scan(ROOT)))


def test_the_scan_sees_the_tree(real: Tree) -> None:
    """Guards the checks below against passing because nothing was read."""
    modules, imports = real
    assert len(modules) > 50
    assert "edge_jupyter.serverext.app" in modules
    assert any(
        i.importer == "edge_jupyter.serverext.app" and rules._under(i.target, "jupyter_server")
        for i in imports
    )
    assert any(i.target == "edge_jupyter.money" for i in imports)


def test_every_part_named_in_the_tables_exists(
    real: Tree,
) -> None:
    """A renamed package must not turn its row into a rule that checks nothing."""
    modules, _ = real
    parts = {r.part for r in rules.FORBIDDEN} | {r.part for r in rules.ONLY}
    assert sorted(p for p in parts if p not in modules) == []


def test_no_part_imports_what_its_row_forbids(
    real: Tree,
) -> None:
    _, imports = real
    found = rules.forbidden_violations(imports, rules.FORBIDDEN)
    assert not found, rules.report(found)


def test_the_sandbox_imports_only_the_standard_library_and_itself(
    real: Tree,
) -> None:
    _, imports = real
    found = rules.only_violations(imports, rules.ONLY)
    assert not found, rules.report(found)


def test_nothing_imports_another_package_s_private_module(
    real: Tree,
) -> None:
    _, imports = real
    found = rules.private_violations(imports)
    assert not found, rules.report(found)


def test_no_import_cycles_at_module_level(
    real: Tree,
) -> None:
    modules, imports = real
    found = rules.cycle_violations(imports, modules)
    assert not found, rules.report(found)


# ---------------------------------------------------------------- the checker can fail


def write_tree(tmp_path: Path, files: dict[str, str]) -> Path:
    """Write a synthetic package; every folder gets an `__init__.py` unless one is given."""
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    for folder in {p.parent for p in tmp_path.rglob("*.py")}:
        (folder / "__init__.py").touch()
    return tmp_path / next(iter(files)).split("/")[0]


def test_imports_are_resolved_and_tagged(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "pkg/a/mod.py": """\
                from __future__ import annotations
                import json, pkg.b.other
                from . import sibling
                from .sibling import thing
                from .. import b
                from ..b.other import name
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from ..b import typed_only
                import importlib

                def later():
                    from .sibling import lazy_thing
                    importlib.import_module("pkg.b.other")

                class Holder:
                    import csv
            """,
            "pkg/a/sibling.py": "",
            "pkg/b/other.py": "",
        },
    )
    got = {
        (i.line, i.target, i.lazy, i.type_checking)
        for i in rules.scan(root)
        if i.importer == "pkg.a.mod"
    }
    assert got == {
        (1, "__future__", False, False),
        (2, "json", False, False),
        (2, "pkg.b.other", False, False),
        (3, "pkg.a.sibling", False, False),  # `from . import sibling` is the module
        (4, "pkg.a.sibling", False, False),
        (5, "pkg.b", False, False),
        (6, "pkg.b.other", False, False),
        (7, "typing", False, False),
        (9, "pkg.b", False, True),  # `typed_only` is a name in pkg.b, not a module
        (10, "importlib", False, False),
        (13, "pkg.a.sibling", True, False),
        (14, "pkg.b.other", True, False),
        (17, "csv", False, False),  # a class body runs at import time
    }


def test_relative_imports_of_a_package_start_at_the_package_itself() -> None:
    assert rules.resolve_relative("pkg.a", True, 1, "x") == "pkg.a.x"
    assert rules.resolve_relative("pkg.a.mod", False, 1, "x") == "pkg.a.x"
    assert rules.resolve_relative("pkg.a.mod", False, 2, None) == "pkg"
    with pytest.raises(ValueError):
        rules.resolve_relative("pkg.mod", False, 3, "x")


def test_a_forbidden_import_is_reported_even_lazy_or_type_only(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "edge_jupyter/calls/_engine.py": """\
                import json

                def show():
                    from IPython.display import display
            """,
            "edge_jupyter/ledger/_db.py": """\
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    import ipywidgets
                from ..calls import _engine
            """,
            "edge_jupyter/openrouter/_client.py": "from edge_jupyter.ledger import Ledger\n",
            "edge_jupyter/serverext/handlers.py": "from ..magics import load\n",
            "edge_jupyter/magics/__init__.py": "def load(): pass\n",
            "edge_jupyter/panel/_source.py": "import httpx\nimport IPython\n",
        },
    )
    found = rules.forbidden_violations(rules.scan(root), rules.FORBIDDEN)
    got = sorted((v.path, v.line, v.target, v.rule) for v in found)
    assert got == [
        (
            "edge_jupyter/calls/_engine.py",
            4,
            "IPython.display",
            "edge_jupyter.calls must not import IPython",
        ),
        (
            "edge_jupyter/ledger/_db.py",
            3,
            "ipywidgets",
            "edge_jupyter.ledger must not import ipywidgets",
        ),
        (
            "edge_jupyter/ledger/_db.py",
            4,
            "edge_jupyter.calls._engine",
            "edge_jupyter.ledger must not import edge_jupyter.calls",
        ),
        (
            "edge_jupyter/openrouter/_client.py",
            1,
            "edge_jupyter.ledger",
            "edge_jupyter.openrouter must not import edge_jupyter.ledger",
        ),
        ("edge_jupyter/panel/_source.py", 1, "httpx", "edge_jupyter.panel must not import httpx"),
        (
            "edge_jupyter/serverext/handlers.py",
            1,
            "edge_jupyter.magics",
            "edge_jupyter.serverext must not import edge_jupyter.magics",
        ),
    ]
    text = rules.report(found)
    assert (
        "edge_jupyter/calls/_engine.py:4: edge_jupyter.calls._engine imports IPython.display"
        in text
    )
    assert "6 import rule violation(s)" in text


def test_the_sandbox_may_import_only_the_standard_library_and_itself(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "edge_jupyter/sandbox/_http.py": """\
                import json
                from http.server import ThreadingHTTPServer
                from ._routes import route
                from edge_jupyter.money import usd
                import httpx
            """,
            "edge_jupyter/sandbox/_routes.py": "def route(): pass\n",
            "edge_jupyter/money.py": "def usd(): pass\n",
        },
    )
    found = rules.only_violations(rules.scan(root), rules.ONLY)
    assert sorted((v.line, v.target) for v in found) == [(4, "edge_jupyter.money"), (5, "httpx")]
    assert all(v.rule.startswith("edge_jupyter.sandbox may import only") for v in found)


def test_a_private_module_is_importable_only_inside_its_package(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "edge_jupyter/magics/_call.py": "def run(): pass\n",
            "edge_jupyter/magics/_cell.py": "from ._call import run\n",  # same package: fine
            "edge_jupyter/magics/commands/_money.py": "from .._call import run\n",  # sub-package: fine
            "edge_jupyter/magics/__init__.py": "from ._call import run\n",  # its own __init__: fine
            "edge_jupyter/batch.py": """\
                from .magics._call import run
                from .magics import _call
                import edge_jupyter.magics._call as c

                def later():
                    from edge_jupyter.magics.commands._money import x
            """,
            "edge_jupyter/_shared.py": "",
            "edge_jupyter/ledger/_db.py": "from .._shared import y\n",  # top-level private: fine
        },
    )
    found = rules.private_violations(rules.scan(root))
    got = sorted((v.path, v.line, v.target, v.rule) for v in found)
    assert got == [
        (
            "edge_jupyter/batch.py",
            1,
            "edge_jupyter.magics._call",
            "private module of edge_jupyter.magics",
        ),
        (
            "edge_jupyter/batch.py",
            2,
            "edge_jupyter.magics._call",
            "private module of edge_jupyter.magics",
        ),
        (
            "edge_jupyter/batch.py",
            3,
            "edge_jupyter.magics._call",
            "private module of edge_jupyter.magics",
        ),
        (
            "edge_jupyter/batch.py",
            6,
            "edge_jupyter.magics.commands._money",
            "private module of edge_jupyter.magics.commands",
        ),
    ]


def test_a_cycle_is_reported_with_each_import_s_line(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "pkg/a.py": "import json\nfrom . import b\n",
            "pkg/b.py": "from .c import thing\n",
            "pkg/c.py": "from pkg.a import other\n",
            "pkg/d.py": "from . import a\n",  # into the cycle, not part of it
        },
    )
    found = rules.cycle_violations(rules.scan(root), rules.module_names(root))
    assert len(found) == 1
    (v,) = found
    assert (v.path, v.line, v.importer, v.target, v.rule) == (
        "pkg/a.py",
        2,
        "pkg.a",
        "pkg.b",
        "import cycle",
    )
    assert "pkg.a (line 2) -> pkg.b (line 1) -> pkg.c (line 1) -> pkg.a" in v.why
    assert "modules in the cycle: pkg.a, pkg.b, pkg.c." in v.why


@pytest.mark.parametrize(
    "closing_import",
    [
        "def f():\n    from pkg.a import other\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import other\n",
    ],
    ids=["lazy", "type-checking"],
)
def test_a_cycle_closed_lazily_or_for_types_only_is_allowed(
    tmp_path: Path, closing_import: str
) -> None:
    """Lazy imports run after every module has loaded (and keep `%load_ext` fast)."""
    root = write_tree(tmp_path, {"pkg/a.py": "from . import b\n", "pkg/b.py": closing_import})
    assert rules.cycle_violations(rules.scan(root), rules.module_names(root)) == []


def test_a_package_importing_its_child_that_imports_it_back_is_a_cycle(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "pkg/__init__.py": "from .core import thing\n",
            "pkg/core.py": "from pkg import setting\n",
        },
    )
    found = rules.cycle_violations(rules.scan(root), rules.module_names(root))
    assert [v.why.split(";")[0] for v in found] == ["pkg (line 1) -> pkg.core (line 1) -> pkg"]
    assert found[0].path == "pkg/__init__.py"


def test_all_violations_runs_every_rule(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "edge_jupyter/ledger/_db.py": "import IPython\n",
            "edge_jupyter/sandbox/_x.py": "import httpx\n",
            "edge_jupyter/cli.py": "from .ledger._db import x\n",
            "edge_jupyter/a.py": "from . import b\n",
            "edge_jupyter/b.py": "from . import a\n",
        },
    )
    kinds = sorted(v.rule.split(" ")[-1] for v in rules.all_violations(root))
    assert kinds == ["IPython", "cycle", "edge_jupyter.ledger", "itself"]
