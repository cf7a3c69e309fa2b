"""The import rules of edge_jupyter, and a checker that reads them from the source with `ast`.

Nothing here imports the product: every module is parsed, never executed, so the check is fast,
has no side effects, and also sees imports inside functions (which an import-time check would
miss). `tests/test_architecture.py` runs the checker over `edge_jupyter/` and over small
synthetic packages (to show each rule can fail).

What counts as an import
- `import a.b`, `from a.b import c`, relative `from ..x import y` (resolved against the importing
  module's package), and `importlib.import_module("a.b")` with a literal name.
- `from pkg import name` imports the module `pkg.name` when that module exists in the scanned
  tree, otherwise the module `pkg` (the name is an attribute of it).
- Each import is tagged with where it sits: module level or inside a function (a lazy import),
  and whether it is under `if TYPE_CHECKING:` (never executed).

The rules (see `FORBIDDEN`, `ONLY`, `private_violations`, `cycle_violations`)
- a part must not import what its row in `FORBIDDEN` names; a part in `ONLY` imports nothing but
  what its row allows. Both apply to every import, lazy and TYPE_CHECKING ones included: a lazy
  import is still a dependency, and a type-only import still couples the parts.
- private modules: a module whose dotted name has a component starting with `_` (not a dunder)
  belongs to the package that directly contains that component. `a.b._c` (and anything under
  it) may be imported only by modules inside `a.b`: its `__init__`, its modules and the modules
  of its sub-packages (`a.b.d.e`, which are part of `a.b`), never by `a.x` or `a` itself. A
  sub-package is part of its parent's job (`magics/commands/` is the magics' subcommands), so
  it may use the parent's internals without making them public to every other part. The same
  rule at the top: `edge_jupyter._x` is internal to the product (any module of `edge_jupyter`
  may use it; users and tests-as-users should not), which is what an underscore there means.
  Private modules of third-party packages are reported too: their internals change without
  notice.
- cycles: no cycle among module-level imports outside `TYPE_CHECKING`. A cycle closed by a lazy
  import inside a function is allowed: lazy imports keep `%load_ext edge_jupyter` fast and only
  run once every module involved has finished importing. Importing `a.b.c` is an edge to `a.b.c`
  only, not to its parent packages (Python runs them first, but a package's `__init__` importing
  its own children is not a cycle worth reporting).
"""

from __future__ import annotations

import ast
import itertools
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

STDLIB = "<standard library>"  # a marker usable in `ONLY` rows

_UI_AND_SERVER = ("IPython", "ipywidgets", "ipykernel", "tornado", "jupyter_server", "sidecar")
#: The parts that show calls to a person: the engine and what is below it never import them.
_FRONT_ENDS = ("edge_jupyter.magics", "edge_jupyter.panel", "edge_jupyter.api", "edge_jupyter.batch",
               "edge_jupyter.cli", "edge_jupyter.serverext", "edge_jupyter.connect")


@dataclass(frozen=True)
class Rule:
    """`part` (a module or package, with everything under it) must not import `forbidden`."""

    part: str
    forbidden: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class OnlyRule:
    """`part` imports nothing but `allowed` (module prefixes, or `STDLIB`) and itself."""

    part: str
    allowed: tuple[str, ...]
    why: str


# (part, must not import, why). Prefixes: "IPython" covers "IPython.display" too.
FORBIDDEN: tuple[Rule, ...] = (
    Rule(
        "edge_jupyter.calls",
        _UI_AND_SERVER,
        "the call engine runs under every front-end (magic, Python API, map, CLI): no notebook, "
        "widget or web-server code in it",
    ),
    Rule(
        "edge_jupyter.openrouter",
        _UI_AND_SERVER,
        "the OpenRouter client is plain HTTP; the CLI and the server extension use it too",
    ),
    Rule(
        "edge_jupyter.ledger",
        _UI_AND_SERVER,
        "the ledger is storage and arithmetic; the panel, the CLI and the server read it",
    ),
    Rule(
        "edge_jupyter.openrouter",
        ("edge_jupyter.calls", "edge_jupyter.ledger"),
        "the client sits below the engine and the ledger: it knows HTTP and OpenRouter's "
        "shapes, not how a call is recorded",
    ),
    Rule(
        "edge_jupyter.ledger",
        ("edge_jupyter.calls",),
        "the engine writes the ledger, never the other way round",
    ),
    Rule(
        "edge_jupyter.calls",
        _FRONT_ENDS,
        "the engine sits below every front-end: it tells them what happens through events, "
        "it never reaches up into one (a front-end importing IPython lazily would hide it)",
    ),
    Rule(
        "edge_jupyter.ledger",
        _FRONT_ENDS,
        "the ledger sits below the engine and every front-end",
    ),
    Rule(
        "edge_jupyter.openrouter",
        _FRONT_ENDS,
        "the client sits below the engine and every front-end",
    ),
    Rule(
        "edge_jupyter.serverext",
        ("edge_jupyter.magics", "edge_jupyter.panel", "IPython", "ipywidgets", "ipykernel"),
        "the server extension runs in jupyter-server's process, with no kernel: it must not "
        "pull in the magics, the panel or IPython",
    ),
    Rule(
        "edge_jupyter.keystore",
        ("IPython", "ipywidgets", "tornado", "jupyter_server"),
        "the key store is shared by the kernel, the server extension and the terminal: it "
        "must work in each of them alone",
    ),
    Rule(
        "edge_jupyter.magics",
        ("tornado", "jupyter_server", "edge_jupyter.serverext"),
        "the magics run in the kernel; the server extension runs in another process",
    ),
    Rule(
        "edge_jupyter.panel",
        ("httpx",),
        "the panel reads through the product's public functions; HTTP is openrouter/'s job",
    ),
)

# (part, may import only, why)
ONLY: tuple[OnlyRule, ...] = (
    OnlyRule(
        "edge_jupyter.sandbox",
        (STDLIB,),
        "the sandbox is an independent OpenRouter look-alike: tests compare the product against "
        "it, so it must not share the product's code (nor need any third-party package)",
    ),
)


@dataclass(frozen=True)
class Import:
    """One import statement's target, as seen in `importer`'s source."""

    importer: str  # dotted module name
    path: str  # file, relative to the scanned root's parent
    line: int
    target: str  # full dotted name of the imported module
    lazy: bool  # inside a function
    type_checking: bool  # under `if TYPE_CHECKING:`


@dataclass(frozen=True)
class Violation:
    rule: str
    path: str
    line: int
    importer: str
    target: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.importer} imports {self.target} [{self.rule}] {self.why}"


# ---------------------------------------------------------------- reading the tree


def module_names(root: Path) -> dict[str, Path]:
    """Every module under the package directory `root`, by dotted name (`__init__` = package)."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def display_path(module: str, path: Path) -> str:
    """`path` relative to the folder holding the top package (`edge_jupyter/ledger/_db.py`)."""
    depth = len(module.split(".")) + (1 if path.name == "__init__.py" else 0)
    return str(Path(*path.parts[-depth:]))


def package_of(module: str, is_package: bool) -> str:
    """The package a module's relative imports start from (a package's own name for `__init__`)."""
    return module if is_package else module.rpartition(".")[0]


def resolve_relative(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute name of `from <level dots><name> import ...` written in `module`."""
    if level == 0:
        return name or ""
    base = package_of(module, is_package).split(".")
    if level - 1 > len(base) - 1:
        raise ValueError(f"relative import beyond the top package in {module}")
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def _is_type_checking_test(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id == "TYPE_CHECKING") or (
        isinstance(node, ast.Attribute) and node.attr == "TYPE_CHECKING"
    )


def imports_in_source(
    source: str, module: str, is_package: bool, path: str, known: Iterable[str]
) -> list[Import]:
    """All imports in one module's source, resolved to full dotted module names."""
    known_modules = set(known)
    tree = ast.parse(source, filename=path)
    found: list[Import] = []

    def add(node: ast.AST, target: str, lazy: bool, tc: bool) -> None:
        found.append(Import(module, path, getattr(node, "lineno", 0), target, lazy, tc))

    def visit(node: ast.AST, lazy: bool, tc: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(node, alias.name, lazy, tc)
        elif isinstance(node, ast.ImportFrom):
            base = resolve_relative(module, is_package, node.level, node.module)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                add(node, sub if sub in known_modules else base, lazy, tc)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and not node.args[0].value.startswith(".")
        ):
            add(node, node.args[0].value, lazy, tc)
        if isinstance(node, ast.If) and _is_type_checking_test(node.test):
            for child in node.body:
                visit(child, lazy, True)
            for child in node.orelse:
                visit(child, lazy, tc)
            return
        inner_lazy = lazy or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inner_lazy, tc)

    visit(tree, False, False)
    # `from a._b import x, y` is one import of `a._b`, not two
    return list(dict.fromkeys(found))


def scan(root: Path) -> list[Import]:
    """Every import made by every module of the package directory `root`."""
    modules = module_names(root)
    found: list[Import] = []
    for name, path in modules.items():
        rel = display_path(name, path)
        source = path.read_text(encoding="utf-8")
        found += imports_in_source(source, name, path.name == "__init__.py", rel, modules)
    return found


# ---------------------------------------------------------------- the rules


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def forbidden_violations(imports: Iterable[Import], rules: Sequence[Rule]) -> list[Violation]:
    out: list[Violation] = []
    for imp in imports:
        for rule in rules:
            if not _under(imp.importer, rule.part) or _under(imp.target, rule.part):
                continue
            for bad in rule.forbidden:
                if _under(imp.target, bad):
                    out.append(
                        Violation(
                            f"{rule.part} must not import {bad}",
                            imp.path,
                            imp.line,
                            imp.importer,
                            imp.target,
                            rule.why,
                        )
                    )
    return out


def _top(name: str) -> str:
    return name.partition(".")[0]


def only_violations(
    imports: Iterable[Import], rules: Sequence[OnlyRule], stdlib: frozenset[str] | None = None
) -> list[Violation]:
    std = stdlib if stdlib is not None else frozenset(sys.stdlib_module_names)
    out: list[Violation] = []
    for imp in imports:
        for rule in rules:
            if not _under(imp.importer, rule.part) or _under(imp.target, rule.part):
                continue
            ok = any(
                (_top(imp.target) in std) if allowed == STDLIB else _under(imp.target, allowed)
                for allowed in rule.allowed
            )
            if not ok:
                shown = ", ".join(rule.allowed)
                out.append(
                    Violation(
                        f"{rule.part} may import only {shown} and itself",
                        imp.path,
                        imp.line,
                        imp.importer,
                        imp.target,
                        rule.why,
                    )
                )
    return out


def private_owner(target: str) -> str | None:
    """The package that owns `target` if it is (or is inside) a private module, else None."""
    parts = target.split(".")
    for i, part in enumerate(parts):
        if i > 0 and part.startswith("_") and not (part.startswith("__") and part.endswith("__")):
            return ".".join(parts[:i])
    return None


def private_violations(imports: Iterable[Import]) -> list[Violation]:
    """Imports of a `_private` module from outside the package that contains it."""
    out: list[Violation] = []
    for imp in imports:
        owner = private_owner(imp.target)
        if owner is None or _under(imp.importer, owner):
            continue
        out.append(
            Violation(
                f"private module of {owner}",
                imp.path,
                imp.line,
                imp.importer,
                imp.target,
                f"only modules inside {owner} may import it; import a public name from {owner} "
                "instead (add it to that package's __init__ if needed)",
            )
        )
    return out


def import_graph(
    imports: Iterable[Import], modules: Mapping[str, Path]
) -> dict[str, dict[str, int]]:
    """Module-level, run-time edges between scanned modules: importer -> {target: line}."""
    graph: dict[str, dict[str, int]] = {name: {} for name in modules}
    for imp in imports:
        if imp.lazy or imp.type_checking or imp.target not in modules or imp.target == imp.importer:
            continue
        graph[imp.importer].setdefault(imp.target, imp.line)
    return graph


def strongly_connected(graph: Mapping[str, Mapping[str, int]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of more than one module, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterable[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return sorted(out)


def one_cycle(graph: Mapping[str, Mapping[str, int]], component: Sequence[str]) -> list[str]:
    """A shortest cycle through the component's first module, staying inside the component."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt: list[str] = []
        for node in frontier:
            for child in sorted(graph[node]):
                if child not in members:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if child not in previous:
                    previous[child] = node
                    nxt.append(child)
        frontier = nxt
    return [start]  # unreachable for a real component


def cycle_violations(imports: Iterable[Import], modules: Mapping[str, Path]) -> list[Violation]:
    """One violation per import cycle, showing one concrete loop with the line of each import."""
    graph = import_graph(imports, modules)
    out: list[Violation] = []
    for component in strongly_connected(graph):
        loop = one_cycle(graph, component)
        steps = " -> ".join(f"{a} (line {graph[a][b]})" for a, b in itertools.pairwise(loop))
        out.append(
            Violation(
                "import cycle",
                display_path(loop[0], modules[loop[0]]),
                graph[loop[0]][loop[1]],
                loop[0],
                loop[1],
                f"{steps} -> {loop[-1]}; modules in the cycle: {', '.join(component)}. Break it "
                "with a lazy import inside the function that needs it, an import under "
                "TYPE_CHECKING, or by moving the shared piece down a layer",
            )
        )
    return out


def all_violations(root: Path) -> list[Violation]:
    """Every rule, over the package directory `root`."""
    modules = module_names(root)
    imports = scan(root)
    return [
        *forbidden_violations(imports, FORBIDDEN),
        *only_violations(imports, ONLY),
        *private_violations(imports),
        *cycle_violations(imports, modules),
    ]


def report(violations: Sequence[Violation]) -> str:
    return f"{len(violations)} import rule violation(s):\n" + "\n".join(
        f"  {v}" for v in violations
    )
