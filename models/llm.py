"""A Llama-style decoder from transformers' Llama architecture, built from a configuration with
random initialisation (no weights, no tokenizer: nothing is downloaded), and LoRA adapters from peft.

Sizes are named configurations: ``llm-tiny`` (7 M parameters, sequence 256) for CPU
suites and tests, ``llm-1b`` (TinyLlama's shape, 1.1 B parameters, sequence 2048) for GPUs.
Needs the ``llm`` extra: pip install -e '.[llm]'.
"""

from __future__ import annotations

import dataclasses

DEFAULT_LORA_RANK = 16
DEFAULT_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")  # the attention projections


@dataclasses.dataclass(frozen=True)
class LlmConfig:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    sequence: int  # the benchmark's sequence length, also the maximum position

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_attention_heads or self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(f"heads must divide the width and the key/value heads the heads: {self}")


TINY = LlmConfig(vocab_size=8192, hidden_size=256, intermediate_size=704, num_hidden_layers=4,
                 num_attention_heads=8, num_key_value_heads=4, sequence=256)
ONE_B = LlmConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                  num_attention_heads=32, num_key_value_heads=4, sequence=2048)


def build(config: LlmConfig):
    """A LlamaForCausalLM with fresh random weights and SDPA attention."""
    from transformers import LlamaConfig, LlamaForCausalLM

    llama = LlamaConfig(vocab_size=config.vocab_size, hidden_size=config.hidden_size,
                        intermediate_size=config.intermediate_size, num_hidden_layers=config.num_hidden_layers,
                        num_attention_heads=config.num_attention_heads,
                        num_key_value_heads=config.num_key_value_heads,
                        max_position_embeddings=config.sequence, tie_word_embeddings=False,
                        bos_token_id=None, eos_token_id=None, pad_token_id=None)
    llama._attn_implementation = "sdpa"
    return LlamaForCausalLM(llama)


def llm_tiny(config: LlmConfig = TINY):
    return build(config)


def llm_1b(config: LlmConfig = ONE_B):
    return build(config)


def add_lora(model, rank: int = DEFAULT_LORA_RANK, targets: tuple[str, ...] = DEFAULT_LORA_TARGETS):
    """``model`` with LoRA adapters on ``targets`` (peft): base weights frozen, adapters trainable."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=list(targets), lora_dropout=0.0,
                        bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, config)
