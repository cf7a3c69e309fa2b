"""The type check is part of the test command: `mypy edge_jupyter` at the level set in
pyproject.toml (`[tool.mypy]`, which says why that level) must report no errors.

mypy runs in a subprocess with its cache kept between runs (in pytest's cache folder, or a
per-user temporary folder when the cache plugin is off), so a run after a small change takes a
few seconds instead of a cold check of the whole package.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "pyproject.toml"


@pytest.fixture(scope="module")
def cache_dir(request: pytest.FixtureRequest) -> Path:
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("mypy"))
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    path = Path(tempfile.gettempdir()) / f"edge-jupyter-mypy-cache-{uid}"
    path.mkdir(exist_ok=True)
    return path


def mypy(cache_dir: Path, *targets: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable, "-m", "mypy",
            "--config-file", str(CONFIG),
            "--cache-dir", str(cache_dir),
            "--no-color-output",
            *targets,
        ],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def test_edge_jupyter_type_checks_with_no_errors(cache_dir: Path) -> None:
    result = mypy(cache_dir, "edge_jupyter")
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, f"mypy found problems:\n{output}"
    assert "Success: no issues found" in output, output


def test_the_check_reports_a_type_error_and_an_unannotated_function(
    cache_dir: Path, tmp_path: Path
) -> None:
    """The same command and configuration do fail: a config that checked nothing would pass."""
    bad = tmp_path / "bad_module.py"
    bad.write_text(
        textwrap.dedent(
            """\
            from __future__ import annotations


            def total(prices: list[float]) -> float:
                return sum(prices) + "0"


            def untyped(x):
                return x
            """
        ),
        encoding="utf-8",
    )
    result = mypy(cache_dir, str(bad))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "bad_module.py:5: error: Unsupported operand types" in result.stdout, result.stdout
    assert "bad_module.py:8: error: Function is missing a type annotation" in result.stdout, (
        result.stdout
    )
