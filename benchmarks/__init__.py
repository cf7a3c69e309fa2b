"""Benchmarks for issue #8: a user should wait on the model, never on edge_jupyter.

Run them all with ``python -m benchmarks`` (``--quick`` for small sizes, ``--only NAME``
for some of them); the table is printed and written to ``benchmarks/RESULTS.md``.

Every figure is measured against a baseline taken in the same run (these machines
are shared and noisy), as a median of several runs, and reported as a ratio where
a ratio makes sense. One module per benchmark, each with a ``run(...)`` function
whose size parameters let the test suite run it tiny:

=================  =====================================================================
``streaming``      tokens/s of a bare httpx + httpx-sse loop, the client, ``%%edge``
``display``        iopub display bytes ÷ answer bytes, beside the naive re-render figure
``latency``        first SSE byte → first display message; last token → cost line
``startup``        ``%load_ext edge_jupyter`` in a fresh IPython, heavy imports
``ledger``         appends, four writer processes, ``usage()`` and grouping at 1M rows
``many_models``    ``-m`` × 5 wall time against the slowest single model
``memory``         kernel RSS after a 50k-token answer and 10,000 ledger rows
``content``        a figure encoded and a 100,000-row DataFrame summarised for a prompt
=================  =====================================================================
"""
