"""MNIST through torchvision's real loading path on tiny IDX files; the synthetic digit set; TTA."""

from __future__ import annotations

import dataclasses
import gzip
import struct

import pytest
import torch

from bench.__main__ import main as bench
from bench.measure.data import MNIST_FILES, DataError, SyntheticDigits, by_labels, dataset, mnist
from bench.results.records import Status
from tests.conftest import usage_error


def idx_images(images: torch.Tensor) -> bytes:
    count, rows, cols = images.shape
    return struct.pack(">IIII", 0x803, count, rows, cols) + images.to(torch.uint8).numpy().tobytes()


def idx_labels(labels: torch.Tensor) -> bytes:
    return struct.pack(">II", 0x801, labels.numel()) + labels.to(torch.uint8).numpy().tobytes()


def write_mnist(root, train_size=256, test_size=64, compress=True, seed=0):
    """MNIST-format files made from the synthetic digits, gzip-compressed like the originals."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    digits = SyntheticDigits(train_size=train_size, test_size=test_size, noise=0.3, seed=seed)
    for prefix, train in (("train", True), ("t10k", False)):
        images, labels = digits.split(train).tensors
        pixels = ((images.squeeze(1) - images.min()) / (images.max() - images.min()) * 255).round()
        for kind, payload in (("images-idx3-ubyte", idx_images(pixels)), ("labels-idx1-ubyte", idx_labels(labels))):
            path = raw / f"{prefix}-{kind}"
            if compress:
                path = path.with_name(path.name + ".gz")
                payload = gzip.compress(payload)
            path.write_bytes(payload)
    return raw


def test_gzip_idx_files_load_through_torchvision(tmp_path):
    write_mnist(tmp_path)
    train = mnist(tmp_path, train=True)
    image, label = train[0]
    assert len(train) == 256 and image.shape == (1, 28, 28)
    assert -1.0 <= image.min() and image.max() <= 1.0  # ToTensor then Normalize((0.5,), (0.5,))
    assert 0 <= label < 10
    assert len(mnist(tmp_path, train=False)) == 64
    assert all((tmp_path / "MNIST" / "raw" / name).exists() for name in MNIST_FILES)  # unpacked locally


def test_missing_files_name_what_is_expected_and_download(tmp_path):
    with pytest.raises(DataError) as error:
        mnist(tmp_path, train=True)
    message = str(error.value)
    assert "train-images-idx3-ubyte" in message and "--download" in message


def test_corrupt_files_are_a_data_error(tmp_path):
    raw = write_mnist(tmp_path, compress=False)
    (raw / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    with pytest.raises(DataError, match="may be corrupt"):
        mnist(tmp_path, train=True)


def test_corrupt_gzip_is_a_data_error(tmp_path):
    raw = write_mnist(tmp_path)
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="not a readable gzip file"):
        mnist(tmp_path, train=True)


def test_synthetic_digits_are_deterministic_and_split_by_label():
    first, second = SyntheticDigits().split(True), SyntheticDigits().split(True)
    assert torch.equal(first.tensors[0], second.tensors[0])
    high = by_labels(first, range(5, 10), relabel=True)
    labels = {int(high[i][1]) for i in range(200)}
    assert labels <= {0, 1, 2, 3, 4} and len(labels) == 5


def test_mnist_needs_a_data_dir():
    with pytest.raises(DataError, match="--data-dir"):
        dataset("mnist", None, train=True)


@pytest.mark.slow
def test_end_to_end_mnist_case_reads_the_files_through_a_dataloader(tmp_path):
    from bench.config import TimingRules
    from bench.measure.jobs import Options
    from bench.measure.protocol import run_case
    from bench.results.cases import Case

    write_mnist(tmp_path / "data", train_size=256)
    case = Case("cnn", "train", "eager", "fp32", 32, "cpu", data="mnist")
    run = run_case(case, TimingRules(min_round_s=0.01, warmup_max_s=0.0), Options(data_dir=tmp_path / "data",
                                                                                 loader_workers=1))
    assert run.status is Status.OK and case.key == "cnn-train-eager-fp32-bs32-cpu-mnist"
    assert run.steps_per_round >= 1 and run.loss_end is not None


def test_a_torchvision_that_cannot_import_is_one_line_with_the_fix(tmp_path, monkeypatch, capsys):
    from bench.config import RequestError
    from bench.run import plan
    from bench.run.request import InvocationRequest
    from tests.reports import ENVIRONMENT

    write_mnist(tmp_path / "data")
    broken = dataclasses.replace(ENVIRONMENT, facts=dataclasses.replace(
        ENVIRONMENT.facts, torchvision_error="RuntimeError: operator torchvision::nms does not exist"))
    monkeypatch.setattr(plan, "snapshot_of", lambda runner, setup: broken)
    request = InvocationRequest(device="cpu", data="mnist", data_dir=tmp_path / "data", out=tmp_path / "out")
    with pytest.raises(RequestError) as error:
        plan.make_plan(request, None, None)
    message = str(error.value)
    assert "operator torchvision::nms does not exist" in message and "pip install --force-reinstall" in message
    import envcheck

    monkeypatch.setattr(envcheck, "snapshot", lambda: broken)  # bench tta reads the same facts
    line = usage_error(bench, ["tta", "--device", "cpu", "--data", "mnist", "--data-dir", str(tmp_path / "data"),
                               "--out", str(tmp_path / "out")], capsys)
    assert "needs torchvision, which cannot be imported" in line


def test_bench_run_with_missing_mnist_is_exit_2(tmp_path, capsys):
    line = usage_error(bench, ["run", "--device", "cpu", "--data", "mnist", "--data-dir", str(tmp_path),
                               "--out", str(tmp_path / "out")], capsys)
    assert "--download" in line and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_time_to_accuracy_on_learnable_synthetic_data(tmp_path):
    from bench.run.tta import SEED, run_recipe

    digits = SyntheticDigits(train_size=1500, test_size=300, noise=2.5)
    result = run_recipe(SEED, digits.split(True), digits.split(False), target=97.0, finetune_target=97.0,
                        device="cpu", workers=0)
    scratch = result.scratch
    assert scratch.reached and scratch.accuracy >= 97.0
    assert scratch.curve[-1].accuracy == scratch.accuracy
    assert result.pretrain.reached and result.finetune.reached
    assert result.finetune.accuracy >= 97.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--recipes", "fast"], "unknown recipe 'fast' (expected a comma list of seed, tuned)"),
        (["--recipes", ""], "unknown recipe ''"),
        (["--target", "150"], "--target must be a percentage"),
        (["--data", "synthetic-device"], "tta needs real samples"),
        (["--data", "mnist"], "--data mnist needs --data-dir"),
    ],
)
def test_tta_bad_input_is_exit_2(tmp_path, capsys, args, message):
    assert message in usage_error(bench, ["tta", "--device", "cpu", "--out", str(tmp_path), *args], capsys)


def test_tuned_recipe_differs_by_device():
    from bench.run.tta import SEED, tuned

    assert (SEED.batch_size, SEED.lr, SEED.epochs, SEED.finetune_epochs, SEED.amp, SEED.compile) == \
        (64, 1e-3, 10, 5, False, False)
    assert tuned("cuda").compile and tuned("cuda").batch_size > SEED.batch_size
    assert tuned("cpu").amp and not tuned("cpu").compile and tuned("cpu").schedule == "onecycle"
    assert not tuned("cpu", native_bf16=False).amp  # no emulated bf16 (rule 12)
