"""Reference models, registry, fine-tune helpers and the seed's worked example."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn

from models import REGISTRY, UnknownModelError, get_model, worked_example
from models.cnn import CNN
from models.finetune import (
    CheckpointError,
    count_parameters,
    load_state_dict_safely,
    prepare_finetune,
    pretrain_checkpoint,
    save_checkpoint,
    trainable_parameters,
)
from models.mlp_large import MLPLarge, MLPLargeConfig


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_models_map_their_input_to_class_logits(name):
    spec = get_model(name)
    out = spec.build()(torch.randn(3, *spec.input_shape))
    assert out.shape == (3, spec.num_classes)


def test_cnn_is_the_canonical_mnist_layout():
    model = CNN()
    assert model.fc1.in_features == 9216  # 64 x 12 x 12 after the pool, not the seed's 64 x 6 x 6
    assert sum(p.numel() for p in model.parameters()) == 1_199_882


def test_mlp_large_is_configurable_and_matmul_shaped():
    model = MLPLarge(MLPLargeConfig(width=64, depth=2, num_classes=5))
    assert [m.in_features for m in model.modules() if isinstance(m, nn.Linear)] == [64, 64, 64]
    assert model(torch.randn(2, 64)).shape == (2, 5)
    assert get_model("mlp-large").input_shape == (8192,)


def test_unknown_model_names_the_valid_choices():
    with pytest.raises(UnknownModelError, match="expected one of mlp, cnn, mlp-large"):
        get_model("resnet")


def test_every_classifier_head_names_real_modules():
    small = {"mlp-large": lambda: MLPLarge(MLPLargeConfig(width=32, depth=1))}
    for spec in REGISTRY.values():
        if spec.kind != "classifier" or spec.name == "resnet50":  # resnet50 shares resnet18's head
            continue
        model = small.get(spec.name, spec.build)()
        for name in spec.head:
            assert isinstance(model.get_submodule(name), nn.Linear)


def test_registry_needs_no_torch():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "import sys, models; models.get_model('llm-1b'); "
                           "print('torch' in sys.modules)"], capture_output=True, text=True, check=False)
    assert done.stdout.strip() == "False", done.stderr


@pytest.fixture
def checkpoint(tmp_path):
    return pretrain_checkpoint(get_model("cnn"), tmp_path / "cnn.pt", steps=2)


def test_checkpoint_round_trips(tmp_path):
    model = get_model("mlp").build()
    path = save_checkpoint(model, tmp_path / "m.pt")
    state = load_state_dict_safely(path)
    assert state.keys() == model.state_dict().keys()
    for key, value in model.state_dict().items():
        assert torch.equal(state[key], value)


def test_pickle_with_arbitrary_objects_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.pt"
    with open(path, "wb") as handle:
        pickle.dump({"weight": Payload()}, handle)
    with pytest.raises(CheckpointError, match="refusing to load"):
        load_state_dict_safely(path)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_state_dict_safely(tmp_path / "nope.pt")


def test_finetune_freezes_backbone_and_optimizer_sees_only_the_head(checkpoint):
    spec = get_model("cnn")
    model = prepare_finetune(spec, checkpoint)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    # backbone loaded from the checkpoint, head re-initialised N(0, 0.01) with zero bias
    state = load_state_dict_safely(checkpoint)
    assert torch.equal(model.conv1.weight, state["conv1.weight"])
    assert abs(model.fc2.weight.std().item() - 0.01) < 0.002
    assert abs(model.fc2.weight.mean().item()) < 0.002
    assert torch.count_nonzero(model.fc2.bias) == 0

    optimizer = torch.optim.Adam(trainable_parameters(model), lr=1e-3)
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert optimized == {id(p) for p in model.parameters() if p.requires_grad}

    conv_before = model.conv1.weight.detach().clone()
    loss = nn.functional.cross_entropy(model(torch.randn(4, 1, 28, 28)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    optimizer.step()
    assert model.conv1.weight.grad is None
    assert model.fc1.weight.grad is not None
    assert torch.equal(model.conv1.weight, conv_before)


def test_trainable_fraction(checkpoint):
    counts = count_parameters(prepare_finetune(get_model("cnn"), checkpoint))
    assert counts.total == 1_199_882
    assert counts.trainable == 9216 * 128 + 128 + 128 * 10 + 10
    assert counts.fraction == pytest.approx(1_181_066 / 1_199_882)


def test_new_task_changes_the_head_size(checkpoint):
    model = prepare_finetune(get_model("cnn"), checkpoint, num_classes=5)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 5)


def test_checkpoint_for_another_model_is_refused(tmp_path):
    path = save_checkpoint(get_model("mlp").build(), tmp_path / "mlp.pt")
    with pytest.raises(CheckpointError, match="does not fit model cnn"):
        prepare_finetune(get_model("cnn"), path)


def test_worked_example_gradients_match_finite_differences():
    example = worked_example.run()
    assert example.autograd.keys() == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert example.autograd["0.weight"].shape == (3, 2)
    for name, grad in example.autograd.items():
        torch.testing.assert_close(grad, example.finite_difference[name], rtol=1e-6, atol=1e-8)
        # one SGD step moves each parameter by -lr * grad
        torch.testing.assert_close(example.after[name], example.before[name] - 0.1 * grad)
    assert example.loss != pytest.approx(5.666666666666667)  # the seed's printed value is not reproducible
