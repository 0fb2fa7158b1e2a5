"""bench: train and fine-tune throughput of the reference models, eager vs torch.compile,
fp32 vs TF32 vs mixed precision. `python -m bench run` is the front end; the same cases
are pytest-benchmark benchmarks in bench/test_bench.py."""
