"""Benchmarks: one module per question, each with ``main(argv)``; results go to bench/results/.

Run one with ``python -m imggen bench NAME [args]`` (or ``make bench NAME=x``, or ``python -m bench.NAME``).
Held-out figures come from the core's one evaluation (``imggen.evaluate.heldout`` / ``HeldOut.score``); what the
benchmarks share besides lives in :mod:`bench.common`.
"""
