"""The README's Architecture section names every module of the package (so it cannot go stale).

Each module must appear as its path under ``edge_jupyter/`` (``calls/_engine.py``,
``money.py``); package ``__init__.py`` files are exempt. A module added, moved or split
without its line in the README fails here with the list of what is missing or gone.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "edge_jupyter"


def architecture_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Architecture")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def modules() -> list[str]:
    return sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
                  if p.name != "__init__.py" and "__pycache__" not in p.parts)


def test_every_module_is_in_the_architecture_section() -> None:
    section = architecture_section()
    missing = [m for m in modules() if f"`{m}`" not in section and not re.search(
        rf"(?<![\w/]){re.escape(m)}(?![\w/])", section)]
    assert not missing, "README 'Architecture' does not name: " + ", ".join(missing)


def test_the_architecture_section_names_no_module_that_is_gone() -> None:
    section = architecture_section()
    named = set(re.findall(r"`((?:[a-z_]+/)*[a-z_]+\.py)`", section))
    gone = sorted(m for m in named if not m.startswith("tests/") and not (PACKAGE / m).is_file())
    assert not gone, "README 'Architecture' names modules that do not exist: " + ", ".join(gone)
