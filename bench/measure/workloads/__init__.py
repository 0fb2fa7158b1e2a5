"""What one step of a case does, built in the worker process: the model, its inputs, the step.

``build_step`` picks the step for the case's mode: a training step (train, finetune,
finetune-lora; end to end through a DataLoader when the case names a data source) or an
inference step (infer). Every step keeps its inputs resident on the device and never
synchronises with the host inside a step (docs/measurement.md, rule 6).
"""

from __future__ import annotations

from bench.measure.jobs import Options
from bench.measure.workloads.base import Step
from bench.results.cases import Case


def build_step(case: Case, options: Options, wrap=None) -> Step:
    if case.mode == "infer":
        from bench.measure.workloads.infer import InferStep

        return InferStep(case, options)
    from bench.measure.workloads.train import LoaderTrainStep, TrainStep

    if case.data != "synthetic-device":
        return LoaderTrainStep(case, options, wrap)
    return TrainStep(case, options, wrap)


__all__ = ["Step", "build_step"]
