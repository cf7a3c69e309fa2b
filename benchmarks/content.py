"""9. Notebook values in a prompt: a figure encoded, a DataFrame summarised (issue 15).

In-process, no kernel and no network: the time ``{fig}`` or ``{df}`` adds to a cell is the
time ``edge_jupyter.content.to_piece`` takes, so that is what is timed (``perf_counter``,
median of the repeats), each beside a baseline measured in the same run, alternately:

* **(a) a 1,000×800-pixel figure** (10×8 in at 100 dpi: a 2,000-point line, a 500-point
  scatter, a legend, a grid, labels) → ``to_piece(fig)``: rendered once, PNG-encoded and
  thumbnailed. Baseline: a bare ``fig.savefig(BytesIO(), format="png")`` — what any way of
  sending a figure must at least do. Target: at most 50 ms, encoding included (the ratio
  shows how much of it is matplotlib's own drawing).
* **(b) a 100,000-row DataFrame** (8 columns: ints, floats, text, dates, bools, a
  category) → ``to_piece(df)``: the capped CSV summary with shape and dtypes. Baseline:
  ``df.head(10).to_csv()``. Target: at most 100 ms.
* **(c) a 4,000×3,000 JPEG** (a photo-sized gradient) downscaled to 2,048 px and
  thumbnailed, reported without a target.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

from ._common import Row, median

NAME = "content"


def _alternate(repeats: int, **actions: Callable[[], Any]) -> dict[str, list[float]]:
    """Each action once as a warm-up, then the actions in turn ``repeats`` times (seconds)."""
    for action in actions.values():
        action()
    times: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(repeats):
        for name, action in actions.items():
            start = time.perf_counter()
            action()
            times[name].append(time.perf_counter() - start)
    return times


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rng = np.random.default_rng(15)
    fig, ax = plt.subplots(figsize=(10, 8), dpi=100)
    x = np.linspace(0, 20, 2_000)
    ax.plot(x, np.sin(x) + 0.1 * rng.standard_normal(x.size), label="signal")
    ax.scatter(rng.uniform(0, 20, 500), rng.normal(0, 1, 500), s=6, alpha=0.5, label="samples")
    ax.set(title="A typical notebook figure", xlabel="time (s)", ylabel="amplitude")
    ax.grid(True)
    ax.legend()
    return fig


def _frame(rows: int) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(15)
    return pd.DataFrame({
        "id": np.arange(rows),
        "x": rng.standard_normal(rows),
        "y": rng.uniform(0, 1_000, rows),
        "label": [f"row {i} of the frame" for i in range(rows)],
        "when": pd.date_range("2024-01-01", periods=rows, freq="min"),
        "flag": rng.integers(0, 2, rows).astype(bool),
        "group": pd.Categorical(rng.choice(["a", "b", "c"], rows)),
        "count": rng.integers(0, 100, rows),
    })


def _photo(width: int, height: int) -> bytes:
    import numpy as np
    from PIL import Image

    gradient = np.linspace(0, 255, width, dtype=np.uint8)
    pixels = np.stack([np.tile(gradient, (height, 1))] * 3, axis=-1)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=90)
    return out.getvalue()


def run(repeats: int = 15, rows: int = 100_000, photo: tuple[int, int] = (4_000, 3_000)) -> list[Row]:
    import matplotlib.pyplot as plt

    from edge_jupyter.content import Attachment, to_piece

    fig = _figure()
    try:
        piece = to_piece(fig)
        assert isinstance(piece, Attachment), piece
        size = f"{piece.width}×{piece.height}"
        figure = _alternate(repeats, bare=lambda: fig.savefig(io.BytesIO(), format="png"),
                            ours=lambda: to_piece(fig))
    finally:
        plt.close(fig)
    ours, bare = median(figure["ours"]) * 1000, median(figure["bare"]) * 1000

    df = _frame(rows)
    text = to_piece(df)
    table = _alternate(repeats, bare=lambda: df.head(10).to_csv(), ours=lambda: to_piece(df))
    t_ours, t_bare = median(table["ours"]) * 1000, median(table["bare"]) * 1000

    jpeg = _photo(*photo)
    scaled = to_piece(jpeg)
    assert isinstance(scaled, Attachment), scaled
    downscale = median(_alternate(max(3, repeats // 3), ours=lambda: to_piece(jpeg))["ours"]) * 1000

    return [
        Row(NAME, f"(a) to_piece(figure), {size} px PNG + thumbnail", ours, "ms", bare,
            "ms bare fig.savefig(png)", ours / bare if bare else None, "<= 50 ms", ours <= 50,
            f"median of {repeats}, alternating with the baseline; {len(piece.data):,} bytes sent; "
            f"added over the bare savefig: {ours - bare:+.1f} ms"),
        Row(NAME, f"(b) to_piece(DataFrame), {rows:,} rows × {df.shape[1]} columns", t_ours, "ms",
            t_bare, "ms df.head(10).to_csv()", t_ours / t_bare if t_bare else None, "<= 100 ms",
            t_ours <= 100,
            f"median of {repeats}; {len(str(text)):,} characters of summary (capped: first and "
            "last 10 rows)"),
        Row(NAME, f"(c) to_piece(JPEG bytes), {photo[0]}×{photo[1]} → "
            f"{scaled.width}×{scaled.height}", downscale, "ms", None, "", None, "", None,
            f"{len(jpeg):,} → {len(scaled.data):,} bytes; Pillow draft decode, LANCZOS"),
    ]
