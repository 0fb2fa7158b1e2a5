"""The worker side: what runs inside a fresh process and imports torch (timing, the measurement protocol, the
workloads, the matmul ceilings, data-parallel ranks). The parent talks to it through `jobs` (torch-free) only."""
