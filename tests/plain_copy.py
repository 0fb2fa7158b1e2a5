"""A plain copy and triad loop beside `bench micro`'s mem-copy / mem-triad (issue 24's side-by-side figure; not a
test: timings are never asserted). 1 GiB float64 buffers, bytes counted as STREAM does (copy 2 x 8 B an element,
triad 3 x 8 B), the median of 20 repetitions after 3 warm-ups:

    python -m tests.plain_copy      # run it in three fresh processes to see its spread
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

ELEMENTS = (1 << 30) // 8


def rate(step, moved: int) -> float:
    for _ in range(3):
        step()
    times = []
    for _ in range(20):
        began = time.perf_counter()
        step()
        times.append(time.perf_counter() - began)
    return moved / statistics.median(times) / 1e9


def main() -> None:
    a, b, c = (np.full(ELEMENTS, 1.0) for _ in range(3))
    ta, tb, tc = (torch.from_numpy(x) for x in (a, b, c))
    print(f"threads {torch.get_num_threads()}: numpy copyto {rate(lambda: np.copyto(a, b), 16 * ELEMENTS):.1f} GB/s, "
          f"torch copy_ {rate(lambda: ta.copy_(tb), 16 * ELEMENTS):.1f} GB/s, "
          f"torch triad {rate(lambda: torch.add(tb, tc, alpha=3.0, out=ta), 24 * ELEMENTS):.1f} GB/s", flush=True)


if __name__ == "__main__":
    main()
