"""The parent side of an invocation: a request is planned, its runs executed in fresh worker processes
(bench/measure/), journaled, and turned into reports (bench/results/); validate and tta are verbs built on it.
Torch-free at import (tests/unit/test_architecture.py), except tta, which trains in the CLI's own process."""
