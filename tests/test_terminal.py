"""``%%edge`` in terminal IPython (no kernel): what is printed stays printed, once."""

from __future__ import annotations

import os
import subprocess
import sys


def run_ipython(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor", "--quick", "-c", code],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, **env, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"})
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_streamed_answer_is_printed_once_then_its_cost_line(sb, edge_env):
    sb.answer_length = 120  # long enough to wrap onto several lines of the answer itself
    out = run_ipython("get_ipython().run_line_magic('load_ext', 'edge_jupyter')\n"
                      "get_ipython().run_cell_magic('edge', '-m openai/gpt-4o-mini', 'Say hi')",
                      edge_env)
    answer = sb.completions[-1].text
    assert out.count(answer) == 1, out
    assert "\x1b[2K" not in out, "clear_output must not erase the streamed answer's last line"
    assert "streaming…" not in out, "a terminal cannot update the status line in place"
    after = out.split(answer, 1)[1]
    assert after.startswith("\n💰 "), after[:200]


def test_several_models_print_each_answer_once_under_its_name(sb, edge_env):
    sb.tokens_per_second = 40  # 0.6 s: long enough for the grid's updates (4 a second)
    out = run_ipython("get_ipython().run_line_magic('load_ext', 'edge_jupyter')\n"
                      "get_ipython().run_cell_magic('edge', '-m openai/gpt-4o-mini "
                      "-m anthropic/claude-3.5-haiku', 'Say hi')", edge_env)
    texts = [c.text for c in sb.completions[-2:]]
    for text in texts:  # the sandbox may give both models the same text
        assert out.count(text) == texts.count(text), out
    assert out.index("== openai/gpt-4o-mini") < out.index("== anthropic/claude-3.5-haiku")
    assert "Σ 2 models" in out
    assert "▶" not in out, "grid updates would each print a new block in a terminal"
