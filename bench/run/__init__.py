"""The parent side of a run, torch-free: a request is planned, its runs executed in fresh worker processes
(bench/measure/), journaled, and turned into reports (bench/results/); validate and tta are verbs built on it."""
