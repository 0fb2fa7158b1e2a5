"""Case identity, suite expansion, validation and what a device or an install cannot run."""

from __future__ import annotations

import pytest

from bench import config
from bench.results.cases import Case, ConfigError, expand, unsupported_reason
from envcheck.capabilities import cpu_capabilities, cuda_capabilities

SMOKE = config.SUITE_DEFS["smoke"]
AMX = cpu_capabilities(("avx2", "avx512_bf16", "amx_bf16"), {})
ALL_PACKAGES = {"transformers": "5", "peft": "0.1"}


def test_case_key_and_group():
    case = Case("cnn", "train", "compile", "amp-bf16", 64, "cuda")
    assert case.key == "cnn-train-compile-amp-bf16-bs64-cuda"
    assert case.group == "cnn-train-bs64-cuda"
    ddp = case.sibling(world_size=2, dist_backend="nccl")
    assert ddp.key == "cnn-train-compile-amp-bf16-bs64-cuda-ddp2-nccl"  # a 2-rank result never matches a 1-GPU one
    with pytest.raises(ValueError, match="dist_backend"):
        case.sibling(world_size=2)


def test_items_per_step_count_tokens_for_language_models():
    assert Case("llm-tiny", "train", "eager", "fp32", 4, "cpu").items_per_step == 4 * 256
    assert Case("cnn", "train", "eager", "fp32", 4, "cpu").items_per_step == 4


def test_smoke_covers_both_modes_backends_and_precisions():
    cases = expand(SMOKE, "cpu")
    assert {c.mode for c in cases} == {"train", "finetune"}
    assert {c.backend for c in cases} == {"eager", "compile"}
    assert {c.precision for c in cases} == {"fp32", "amp-bf16"}
    assert len({c.key for c in cases}) == len(cases)


def test_quick_cpu_suite_has_the_real_workloads_in_their_modes():
    cases = expand(config.SUITE_DEFS["quick"], "cpu")
    modes = {(c.model, c.mode) for c in cases}
    assert {("resnet18", "train"), ("resnet18", "finetune"), ("resnet18", "infer"), ("llm-tiny", "train"),
            ("llm-tiny", "finetune-lora"), ("llm-tiny", "infer")} <= modes
    assert any(c.model == "cnn" and c.batch_size == 64 for c in cases)
    cuda = expand(config.SUITE_DEFS["quick"], "cuda")
    assert {"resnet50", "llm-1b"} <= {c.model for c in cuda}
    assert all(c.channels_last for c in cuda if c.model == "resnet50")


def test_given_axes_replace_the_suites():
    cases = expand(SMOKE, "cpu", precisions=("amp-bf16",), batch_sizes=(8, 16))
    assert {c.precision for c in cases} == {"amp-bf16"} and {c.batch_size for c in cases} == {8, 16}


def test_explicit_modes_keep_inapplicable_cases_to_say_why():
    cases = expand(SMOKE, "cpu", models=("resnet18", "llm-tiny"), modes=("finetune", "finetune-lora"),
                   backends=("eager",), precisions=("fp32",))
    reasons = {c.key: unsupported_reason(c, AMX, ALL_PACKAGES) for c in cases}
    assert reasons["resnet18-finetune-eager-fp32-bs8-cpu"] is None
    assert "no finetune-lora mode" in reasons["resnet18-finetune-lora-eager-fp32-bs8-cpu"]
    assert "no finetune mode" in reasons["llm-tiny-finetune-eager-fp32-bs2-cpu"]


def test_every_configuration_error_in_one_message():
    with pytest.raises(ConfigError) as error:
        expand(SMOKE, "cpu", models=("resnet",), precisions=("fp8",), batch_sizes=(0,))
    message = str(error.value)
    assert "unknown model 'resnet' (expected one of mlp, cnn, mlp-large, resnet18" in message
    assert "unknown precision 'fp8'" in message and "batch size must be in 1..1048576, got 0" in message


@pytest.mark.parametrize(("backend", "precision", "caps", "expected"), [
    ("eager", "tf32", AMX, "TF32"),
    ("eager", "amp-fp16", AMX, "CUDA"),
    ("compile-reduce-overhead", "fp32", AMX, "CUDA graphs"),
    ("eager", "amp-bf16", cuda_capabilities((7, 0)), "compute capability >= 8.0"),
    ("eager", "amp-bf16", cuda_capabilities((9, 0)), None),
    ("compile-reduce-overhead", "amp-fp16", cuda_capabilities((9, 0)), None),
    ("compile", "amp-bf16", AMX, None),
])
def test_unsupported_combinations_have_reasons(backend, precision, caps, expected):
    case = Case("cnn", "train", backend, precision, 64, caps.kind)
    reason = unsupported_reason(case, caps, ALL_PACKAGES)
    assert reason is None if expected is None else expected in reason


def test_a_language_model_without_the_extra_is_skipped_with_the_install_command():
    case = Case("llm-tiny", "train", "eager", "fp32", 4, "cpu")
    assert unsupported_reason(case, AMX, {}) == "llm-tiny needs transformers and peft: pip install -e '.[llm]'"


def test_data_sources_need_digit_images():
    case = Case("mlp-large", "train", "eager", "fp32", 32, "cpu", data="mnist")
    assert "does not take 28x28 digit images" in unsupported_reason(case, AMX, ALL_PACKAGES)


def test_data_parallel_cases_follow_their_reference_and_other_nodes_only_join(tmp_path):
    from bench.run.plan import plan_cases
    from bench.run.request import InvocationRequest, Launch

    request = InvocationRequest(models=("mlp",), modes=("train",), backends=("eager",), precisions=("fp32",),
                         batch_sizes=(8,), launch=Launch(2), out=tmp_path)
    assert [c.key for c in plan_cases(request, "cpu")] == ["mlp-train-eager-fp32-bs8-cpu",
                                                           "mlp-train-eager-fp32-bs8-cpu-ddp2-gloo"]
    other_node = InvocationRequest(models=("mlp",), modes=("train",), backends=("eager",), precisions=("fp32",),
                            batch_sizes=(8,), launch=Launch(2, nnodes=2, node_rank=1, rdzv_endpoint="n0:29500"),
                            out=tmp_path)
    assert [c.key for c in plan_cases(other_node, "cuda")] == ["mlp-train-eager-fp32-bs8-cuda-ddp4-nccl"]
