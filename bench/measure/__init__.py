"""The worker side: what runs inside a fresh process and imports torch (timing, the measurement protocol, the
workloads, the matmul ceilings, data-parallel ranks, the fork server). The parent talks to it through `jobs`
(torch-free), starts it as `worker`, `forkserver` or `rank`, and arms a child's death signal with `worker`'s
helper (the module imports no torch)."""
