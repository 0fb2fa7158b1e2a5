"""The real workloads: ResNet (torchvision) and the Llama-style language model with LoRA (transformers, peft)."""

from __future__ import annotations

import pickle

import pytest
import torch

from models import get_model
from models.finetune import CheckpointError, prepare_finetune, save_checkpoint, trainable_parameters

transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")


def test_resnet_parameter_counts_and_finetune_head(tmp_path):
    spec = get_model("resnet18")
    model = spec.build()
    assert sum(p.numel() for p in model.parameters()) == 11_689_512  # torchvision's resnet18
    path = save_checkpoint(model, tmp_path / "resnet18.pt")
    tuned = prepare_finetune(spec, path, num_classes=7)
    assert tuned.fc.out_features == 7
    trainable = {name for name, p in tuned.named_parameters() if p.requires_grad}
    assert trainable == {"fc.weight", "fc.bias"}
    optimizer = torch.optim.SGD(trainable_parameters(tuned), lr=0.1, momentum=0.9)
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert optimized == {id(tuned.fc.weight), id(tuned.fc.bias)}
    assert torch.equal(tuned.conv1.weight, torch.load(path, weights_only=True)["conv1.weight"])


def test_a_malicious_resnet_checkpoint_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"fc.weight": Payload()}))
    with pytest.raises(CheckpointError, match="refusing to load"):
        prepare_finetune(get_model("resnet18"), path)


def llama_parameters(config) -> int:
    """Parameters of a Llama decoder from its configuration (untied embeddings)."""
    h, i, layers, heads, kv = (config.hidden_size, config.intermediate_size, config.num_hidden_layers,
                               config.num_attention_heads, config.num_key_value_heads)
    head_dim = h // heads
    attention = h * h * 2 + 2 * h * kv * head_dim
    return 2 * config.vocab_size * h + layers * (attention + 3 * h * i + 2 * h) + h


def test_named_configurations_have_their_sizes():
    from models.llm import ONE_B, TINY

    tiny = get_model("llm-tiny").build()
    assert sum(p.numel() for p in tiny.parameters()) == llama_parameters(TINY) == 7_145_728
    assert 1.0e9 < llama_parameters(ONE_B) < 1.2e9  # llm-1b, TinyLlama's shape (not built here: 4 GiB)
    assert get_model("llm-1b").input_shape == (2048,) and get_model("llm-tiny").input_shape == (256,)


def test_lora_trains_only_adapters_and_leaves_base_weights_unchanged():
    from models.llm import add_lora

    torch.manual_seed(0)
    model = add_lora(get_model("llm-tiny").build(), rank=4, targets=("q_proj", "v_proj"))
    base = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}
    optimizer = torch.optim.AdamW(trainable_parameters(model), lr=1e-2)
    ids = torch.randint(0, 8192, (2, 32))
    losses = []
    for _ in range(3):
        optimizer.zero_grad()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    for name, param in model.named_parameters():
        if "lora_" in name:
            assert param.requires_grad and param.grad is not None
        else:
            assert not param.requires_grad and param.grad is None and torch.equal(param, base[name])
    assert losses[-1] < losses[0]
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == 4 * 4 * ((256 + 256) + (256 + 128))  # rank x layers x (q in+out, v in+out)
