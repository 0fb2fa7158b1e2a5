"""Model registry: name -> builder, inputs, head and modes. No torch import: the CLI validates
model names with it before anything heavy is loaded.

Adding a model is one file with its module and config, and one entry in REGISTRY.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

CLASSIFIER_MODES = ("train", "finetune", "infer")
LM_MODES = ("train", "finetune-lora", "infer")
LLM_EXTRA = ("transformers", "peft")
LLM_INSTALL = "pip install -e '.[llm]'"


class UnknownModelError(ValueError):
    """A model name that is not registered."""


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    name: str
    factory: str  # "module:callable" building the nn.Module, imported only when built
    input_shape: tuple[int, ...]  # one sample without the batch dimension; (sequence,) for a language model
    num_classes: int  # classes, or the vocabulary of a language model
    head: tuple[str, ...]  # modules replaced and trained when fine-tuning a classifier
    description: str
    kind: str = "classifier"  # or "causal-lm"
    modes: tuple[str, ...] = CLASSIFIER_MODES
    optimizer: str = "adam"  # adam (lr 1e-3, the seed's), sgd-momentum (ResNet's recipe), adamw
    requires: tuple[str, ...] = ()  # importable packages it needs (an optional extra)
    convolutional: bool = False  # takes images through convolutions: channels-last applies
    channels_last_on_cuda: bool = False  # the memory format its users pick on GPUs

    def build(self, **overrides: Any):
        module, _, attr = self.factory.partition(":")
        return getattr(importlib.import_module(module), attr)(**overrides)

    @property
    def unit(self) -> str:
        """What throughput counts: samples, or tokens for a language model."""
        return "tokens" if self.kind == "causal-lm" else "samples"

    @property
    def items_per_sample(self) -> int:
        return self.input_shape[0] if self.kind == "causal-lm" else 1

    def missing_packages(self, installed: dict[str, str]) -> list[str]:
        return [name for name in self.requires if name not in installed]


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("mlp", "models.mlp:MLP", (1, 28, 28), 10, ("head",), "MNIST MLP 784-512-512-10"),
        ModelSpec("cnn", "models.cnn:CNN", (1, 28, 28), 10, ("fc1", "fc2"),
                  "MNIST CNN conv32-conv64-pool-fc128-fc10 (the seed's, corrected)", convolutional=True),
        ModelSpec("mlp-large", "models.mlp_large:MLPLarge", (8192,), 1000, ("head",),
                  "matmul-bound MLP, 4 x 8192"),
        ModelSpec("resnet18", "models.resnet:resnet18", (3, 224, 224), 1000, ("fc",),
                  "torchvision ResNet-18, random init, 224x224", optimizer="sgd-momentum",
                  convolutional=True, channels_last_on_cuda=True),
        ModelSpec("resnet50", "models.resnet:resnet50", (3, 224, 224), 1000, ("fc",),
                  "torchvision ResNet-50, random init, 224x224", optimizer="sgd-momentum",
                  convolutional=True, channels_last_on_cuda=True),
        ModelSpec("llm-tiny", "models.llm:llm_tiny", (256,), 8192, (), "Llama-style decoder, 7 M parameters, "
                  "sequence 256", kind="causal-lm", modes=LM_MODES, optimizer="adamw", requires=LLM_EXTRA),
        ModelSpec("llm-1b", "models.llm:llm_1b", (2048,), 32000, (), "Llama-style decoder (TinyLlama shape), "
                  "1.1 B parameters, sequence 2048", kind="causal-lm", modes=LM_MODES, optimizer="adamw",
                  requires=LLM_EXTRA),
    )
}


def get_model(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}; expected one of {', '.join(REGISTRY)}") from None
