"""Reference models for torchrig's benchmarks, their registry and fine-tuning helpers."""

from models.registry import REGISTRY, ModelSpec, UnknownModelError, get_model

__all__ = ["REGISTRY", "ModelSpec", "UnknownModelError", "get_model"]
