"""Inference: forward only, ``model.eval()`` under ``torch.inference_mode()``. Throughput keeps the
round protocol; latency times each call on its own (synchronised at both ends); a language model
also reports prefill and greedy decoding with a KV cache (static and compiled on CUDA)."""

from __future__ import annotations

import statistics
import time

import torch

from bench import config
from bench.measure.jobs import Options
from bench.measure.timing import Clock
from bench.measure.workloads.base import Step, compile_model
from bench.results.cases import Case
from bench.results.records import Generation

GENERATION_CALLS = 3


class InferStep(Step):
    def __init__(self, case: Case, options: Options) -> None:
        super().__init__(case, options)
        self.model.eval()
        self.forward = compile_model(self.model, case.backend)
        self.mark_step = (torch.compiler.cudagraph_mark_step_begin
                          if case.backend == "compile-reduce-overhead" else None)
        self.output: torch.Tensor | None = None

    def run_forward(self, forward):
        with torch.inference_mode(), self.autocast():
            if self.spec.kind == "causal-lm":
                return forward(input_ids=self.inputs).logits
            return forward(self.inputs)

    def __call__(self) -> None:
        if self.mark_step is not None:
            self.mark_step()
        self.output = self.run_forward(self.forward)  # kept on the device: no host sync

    def flops_pass(self) -> None:
        self.run_forward(self.model)


def measure_latency(step: InferStep, clock: Clock, calls: int, max_s: float) -> list[float]:
    """Seconds of single calls, each synchronised and timed on its own (per-call latency)."""
    latencies: list[float] = []
    deadline = time.perf_counter() + max_s
    while len(latencies) < calls and (len(latencies) < 5 or time.perf_counter() < deadline):
        start = clock.now()
        step()
        latencies.append(clock.now() - start)
    return latencies


def measure_generation(step: InferStep, clock: Clock) -> Generation:
    """Greedy generation of DECODE_TOKENS tokens after a prompt of half the sequence: prefill is
    generate(1 token); decoding is generate(N) - generate(1), N - 1 steps with a KV cache."""
    model, case = step.model, step.case
    prompt = step.inputs[:, : step.spec.input_shape[0] // 2].contiguous()
    static = case.device == "cuda" and case.backend != "eager"
    if static:  # the fast-generation recipe: a static cache and a compiled forward
        model.forward = torch.compile(model.forward, mode="reduce-overhead", fullgraph=True)
    options = {"do_sample": False, "pad_token_id": 0, "attention_mask": torch.ones_like(prompt),
               "cache_implementation": "static" if static else None}

    def seconds(new_tokens: int) -> float:
        times = []
        for _ in range(GENERATION_CALLS + 1):  # the first call warms up (and compiles)
            start = clock.now()
            with torch.inference_mode(), step.autocast():
                model.generate(prompt, max_new_tokens=new_tokens, min_new_tokens=new_tokens, **options)
            times.append(clock.now() - start)
        return statistics.median(times[1:])

    prefill = seconds(1)
    full = seconds(config.DECODE_TOKENS)
    return Generation(prompt_tokens=prompt.shape[1], new_tokens=config.DECODE_TOKENS, prefill_s=prefill,
                      decode_s=max(full - prefill, 1e-9), cache="static" if static else "dynamic")
