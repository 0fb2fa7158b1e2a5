"""Case identity, suite expansion, validation and what a device cannot run."""

from __future__ import annotations

import pytest

from bench import config
from bench.cases import Case, ConfigError, DeviceCaps, expand, unsupported_reason

SMOKE = config.SUITE_DEFS["smoke"]


def test_case_id_and_group():
    case = Case("cnn", "train", "compile", "amp-bf16", 64, "cuda")
    assert case.id == "cnn-train-compile-amp-bf16-bs64-cuda"
    assert case.group == "cnn-train-bs64-cuda"
    assert "fault" not in case.identity()


def test_smoke_covers_both_modes_backends_and_precisions():
    cases = expand(SMOKE, "cpu")
    assert {c.mode for c in cases} == {"train", "finetune"}
    assert {c.backend for c in cases} == {"eager", "compile"}
    assert {c.precision for c in cases} == {"fp32", "amp-bf16"}
    assert any(c.model == "cnn" and c.batch_size == 64 for c in cases)
    assert len({c.id for c in cases}) == len(cases)


def test_quick_suite_keeps_the_seeds_batch_for_the_cnn():
    for kind in ("cpu", "cuda"):
        assert any(c.model == "cnn" and c.batch_size == 64 for c in expand(config.SUITE_DEFS["quick"], kind))


def test_given_axes_replace_the_suites():
    cases = expand(SMOKE, "cpu", precisions=("amp-bf16",), batch_sizes=(8, 16))
    assert {c.precision for c in cases} == {"amp-bf16"}
    assert {c.batch_size for c in cases} == {8, 16}


def test_a_model_outside_the_suite_still_runs_when_asked_for():
    cases = expand(SMOKE, "cpu", models=("mlp-large",), modes=("train",), backends=("eager",))
    assert {(c.model, c.batch_size) for c in cases} == {("mlp-large", 64)}


def test_every_configuration_error_in_one_message():
    with pytest.raises(ConfigError) as error:
        expand(SMOKE, "cpu", models=("resnet",), precisions=("fp8",), batch_sizes=(0,))
    message = str(error.value)
    assert "unknown model 'resnet' (expected one of mlp, cnn, mlp-large)" in message
    assert "unknown precision 'fp8'" in message
    assert "batch size must be > 0, got 0" in message


@pytest.mark.parametrize(
    ("backend", "precision", "caps", "expected"),
    [
        ("eager", "tf32", DeviceCaps("cpu"), "TF32"),
        ("eager", "amp-fp16", DeviceCaps("cpu"), "CUDA"),
        ("compile-reduce-overhead", "fp32", DeviceCaps("cpu"), "CUDA graphs"),
        ("eager", "amp-bf16", DeviceCaps("cuda", (7, 0)), "compute capability >= 8.0"),
        ("eager", "amp-bf16", DeviceCaps("cuda", (9, 0)), None),
        ("compile-reduce-overhead", "amp-fp16", DeviceCaps("cuda", (9, 0)), None),
        ("compile", "amp-bf16", DeviceCaps("cpu"), None),
    ],
)
def test_unsupported_combinations_have_reasons(backend, precision, caps, expected):
    reason = unsupported_reason(Case("cnn", "train", backend, precision, 64, caps.kind), caps)
    if expected is None:
        assert reason is None
    else:
        assert expected in reason
