"""The real workloads measured through the same protocol, in this process with tiny timing rules:
train, fine-tune, LoRA and inference of ResNet-18 and llm-tiny; latency percentiles; FLOPs."""

from __future__ import annotations

import pytest

from bench.config import TimingRules
from bench.measure.jobs import Options
from bench.measure.protocol import run_case
from bench.results.cases import Case
from bench.results.records import Status, latency_percentiles

pytest.importorskip("transformers")
TINY = TimingRules(min_round_s=0.01, rounds=5, warmup_max_s=0.0, latency_calls=8, latency_max_s=0.5)


def measure(tmp_path, model, mode, batch):
    case = Case(model, mode, "eager", "fp32", batch, "cpu")
    return run_case(case, TINY, Options(checkpoint_dir=tmp_path), index=0)


def test_llm_tiny_trains_in_tokens_and_counts_attention_flops(tmp_path):
    run = measure(tmp_path, "llm-tiny", "train", 2)
    assert run.status is Status.OK and run.workload.unit == "tokens" and run.workload.items_per_step == 512
    assert run.loss_end < run.loss_start
    # 6·N·T (N without the input embedding) + 12·layers·width·sequence·T for attention: the FLOP
    # counter sees attention through SDPA's math kernel; the fused CPU kernel alone would hide it.
    n, tokens, layers, width, sequence = 7_145_728 - 8192 * 256, 512, 4, 256, 256
    formula = 6 * n * tokens + 12 * layers * width * sequence * tokens
    assert run.workload.flops_per_step == pytest.approx(formula, rel=0.01)


def test_lora_fine_tune_records_a_small_trainable_fraction(tmp_path):
    run = measure(tmp_path, "llm-tiny", "finetune-lora", 2)
    assert run.status is Status.OK and run.workload.trainable_fraction < 0.02
    assert "LoRA rank 16 on q_proj, k_proj, v_proj, o_proj" in run.workload.notes


def test_llm_inference_has_latency_and_decoding(tmp_path):
    run = measure(tmp_path, "llm-tiny", "infer", 1)
    assert run.status is Status.OK and run.loss_start is None and run.workload.optimizer is None
    assert 5 <= len(run.latency_s) <= 8
    generation = run.generation
    assert generation.prompt_tokens == 128 and generation.new_tokens == 32 and generation.cache == "dynamic"
    assert generation.decode_s > 0 and generation.prefill_s > 0


def test_resnet18_fine_tune_from_a_safe_checkpoint(tmp_path):
    run = measure(tmp_path, "resnet18", "finetune", 2)
    assert run.status is Status.OK and (tmp_path / "resnet18.pt").exists()
    assert run.workload.optimizer == "sgd-momentum" and 0 < run.workload.trainable_fraction < 0.05


def test_latency_percentiles_from_known_times():
    calls = [float(i) for i in range(1, 101)]  # 1..100 ms-like values
    assert latency_percentiles(calls) == {"p50": pytest.approx(50.5), "p90": pytest.approx(90.1),
                                          "p99": pytest.approx(99.01)}


def test_a_compiled_case_times_its_compile_apart(tmp_path):
    from bench.measure.worker import cache_state

    case = Case("mlp", "infer", "compile", "fp32", 8, "cpu")  # a forward graph: the cheapest compile
    assert cache_state(str(tmp_path / "empty")) == "cold"
    (tmp_path / "warm").mkdir()
    (tmp_path / "warm" / "fxgraph").write_text("x")
    assert cache_state(str(tmp_path / "warm")) == "warm"
    run = run_case(case, TINY, Options(), index=0, cache="cold")
    assert run.status is Status.OK and run.compile.seconds > 0 and run.compile.cache == "cold"
    assert run.compile.fxgraph_hits + run.compile.fxgraph_misses >= 1  # inductor compiled a graph
    assert run.round_s and len(run.latency_s) >= 5
