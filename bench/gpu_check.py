"""Everything the GPU proof needs, in one call: `python -m bench.gpu_check OUT_DIR`.

Runs with the machine's own PyTorch (no nox, no package registry), in under ten
minutes on an H200, and writes into OUT_DIR:

    envcheck.json      envcheck --require-cuda
    quick/<id>/*.json  the quick suite's report (the baseline to commit)
    fastest/<id>/*.json, repeat/<id>/*.json   the fastest CNN case; five cases measured again
    targets.json       each target's measured figure and verdict
    gpu-check.log      everything printed, in order
    summary.txt        the short table, also printed last

On a machine without CUDA it says so, runs envcheck (which then FAILs) and stops.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.compare import case_label

# The fastest CNN configuration, run alone (its max-autotune compile takes ~90 s).
FASTEST = ["--models", "cnn", "--modes", "train", "--backends", "compile-max-autotune",
           "--precisions", "amp-bf16", "--batch-sizes", "8192", "--channels-last"]
# Quick-suite cases with steps of 1 ms or more, measured again for the stability target
# (six of these eight are in the quick suite: the CNN in every precision, mlp-large in two).
REPEAT = ["--models", "cnn,mlp-large", "--modes", "train", "--backends", "eager",
          "--precisions", "fp32,tf32,amp-bf16,amp-fp16", "--batch-sizes", "4096"]
FIDELITY_CASES = (  # small, medium and large step times
    ("mlp", "eager", "fp32", 64),
    ("cnn", "eager", "amp-bf16", 4096),
    ("mlp-large", "eager", "amp-bf16", 4096),
)


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    goal: str
    measured: str
    passed: bool | None  # None: could not be measured


def records(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    from bench.storage import all_cases

    return {case_label(r["case"]): r for r in all_cases(report)}


def sps(table: dict[str, dict[str, Any]], label: str) -> float | None:
    record = table.get(label)
    return record.get("samples_per_s") if record and record["status"] == "ok" else None


def _throughput_target(name, goal, value, minimum) -> Target:
    if value is None:
        return Target(name, goal, "not measured", None)
    return Target(name, goal, f"{value / 1e6:.3f} M images/s", value >= minimum)


def evaluate(quick: dict, fastest: dict | None, repeat: dict | None, fidelity: list[dict],
             envcheck: dict | None, quick_wall_s: float | None) -> list[Target]:
    """Each target of the GPU issue from the reports (pure: tested on synthetic reports)."""
    q = records(quick)
    targets = []
    if envcheck is None:
        targets.append(Target("1 envcheck --require-cuda", "no FAIL", "not run", None))
    else:
        fails = [c["name"] for c in envcheck["checks"] if c["status"] == "FAIL"]
        targets.append(Target("1 envcheck --require-cuda", "no FAIL",
                              f"{envcheck['counts']} {'FAIL: ' + ', '.join(fails) if fails else ''}".strip(),
                              not fails))
    targets.append(_throughput_target("2a cnn compile amp-bf16 bs4096", ">= 0.9 M images/s",
                                      sps(q, "cnn-train-compile-amp-bf16-bs4096-cuda"), 0.9e6))
    cnn_rates = [r["samples_per_s"] for r in [*q.values(), *(records(fastest).values() if fastest else [])]
                 if r["case"]["model"] == "cnn" and r["status"] == "ok"]
    best = max(cnn_rates, default=0)
    targets.append(_throughput_target("2b cnn fastest configuration", ">= 1.0 M images/s", best or None, 1.0e6))
    eager, graphs = (sps(q, "cnn-train-eager-fp32-bs64-cuda"),
                     sps(q, "cnn-train-compile-reduce-overhead-fp32-bs64-cuda"))
    if eager and graphs:
        targets.append(Target("3 reduce-overhead vs eager fp32 at bs64", ">= 1.3x", f"{graphs / eager:.2f}x",
                              graphs / eager >= 1.3))
    else:
        targets.append(Target("3 reduce-overhead vs eager fp32 at bs64", ">= 1.3x", "not measured", None))
    mfus = [r.get("mfu") for label, r in q.items() if label.startswith("mlp-large-train")
            and r["case"]["precision"] == "amp-bf16" and r["status"] == "ok" and r.get("mfu")]
    targets.append(Target("4 mlp-large amp-bf16 of bf16 ceiling", ">= 80 %",
                          f"{max(mfus) * 100:.1f} %" if mfus else "not measured",
                          max(mfus) >= 0.8 if mfus else None))
    if fidelity:
        worst = max(abs(f["ratio"] - 1) for f in fidelity)
        detail = ", ".join(f"{f['case']} {f['ratio']:.4f}" for f in fidelity)
        targets.append(Target("5 bench vs CUDA events (3 cases)", "within 2 %", detail, worst <= 0.02))
    else:
        targets.append(Target("5 bench vs CUDA events (3 cases)", "within 2 %", "not measured", None))
    if repeat:
        pairs = [(label, sps(q, label), sps(records(repeat), label)) for label in records(repeat)]
        pairs = [(label, a, b) for label, a, b in pairs if a and b
                 and q[label].get("step_s_median", 0) >= 1e-3]
        worst = max((abs(b / a - 1) for _, a, b in pairs), default=None)
        targets.append(Target("6 five cases measured twice", "within 3 % (steps >= 1 ms)",
                              f"{len(pairs)} cases, worst {worst * 100:.2f} %" if worst is not None
                              else "not measured", worst <= 0.03 if worst is not None else None))
    else:
        targets.append(Target("6 five cases measured twice", "within 3 % (steps >= 1 ms)", "not measured", None))
    if quick_wall_s is not None:
        compiles = [r["compile_s"] for r in q.values() if r.get("compile_s")]
        targets.append(Target("7 quick suite wall time", "<= 300 s",
                              f"{quick_wall_s:.0f} s (cold compiles {min(compiles, default=0):.0f}-"
                              f"{max(compiles, default=0):.0f} s)", quick_wall_s <= 300))
    losses = {}
    for r in {**q, **(records(fastest) if fastest else {})}.values():
        c = r["case"]
        for feature, hit in (("amp-fp16+GradScaler", c["precision"] == "amp-fp16"), ("tf32", c["precision"] == "tf32"),
                             ("CUDA graphs", c["backend"] == "compile-reduce-overhead"),
                             ("max-autotune", c["backend"] == "compile-max-autotune")):
            if hit and r["status"] == "ok":
                losses.setdefault(feature, []).append(r["loss_end"] < r["loss_start"])
    bad = [f for f, ok in losses.items() if not all(ok)]
    missing = [f for f in ("amp-fp16+GradScaler", "tf32", "CUDA graphs", "max-autotune") if f not in losses]
    targets.append(Target("8 finite, decreasing loss", "fp16+scaler, TF32, graphs, autotune",
                          f"ok: {sorted(set(losses) - set(bad))}; missing: {missing}; not decreasing: {bad}",
                          (not bad and not missing) if losses else None))
    return targets


def cuda_event_fidelity(model: str, backend: str, precision: str, batch: int) -> dict[str, Any]:
    """bench's median step against CUDA events around the same rounds, interleaved."""
    import torch

    from bench.cases import Case
    from bench.config import SUITE_DEFS
    from bench.measure import CaseRun
    from bench.timing import time_round

    rules = SUITE_DEFS["quick"].timing
    run = CaseRun(Case(model, "train", backend, precision, batch, "cuda"), rules)
    steps = run.prepare()
    bench_s, event_s = [], []
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(max(rules.rounds, 7)):
        bench_s.append(time_round(run.step, steps, run.clock) / steps)
        torch.cuda.synchronize()
        start.record()
        for _ in range(steps):
            run.step()
        end.record()
        end.synchronize()
        event_s.append(start.elapsed_time(end) / 1e3 / steps)
    bench_median, event_median = statistics.median(bench_s), statistics.median(event_s)
    return {"case": f"{model}-{precision}-bs{batch}", "bench_step_s": bench_median, "event_step_s": event_median,
            "ratio": bench_median / event_median, "steps_per_round": steps}


class Log:
    def __init__(self, path: Path) -> None:
        self.handle = open(path, "a", encoding="utf-8")

    def print(self, text: str = "") -> None:
        print(text, flush=True)
        self.handle.write(text + "\n")
        self.handle.flush()

    def run(self, args: list[str], timeout_s: float) -> tuple[int, float]:
        """Run a command with its output appended to the log; killed after ``timeout_s``."""
        self.print("$ " + " ".join(args))
        start = time.perf_counter()
        try:
            process = subprocess.Popen(args, stdout=self.handle, stderr=subprocess.STDOUT)
        except OSError as error:
            self.print(f"cannot run: {error}")
            return 127, 0.0
        try:
            rc = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            rc = process.wait()
            self.print(f"killed after {timeout_s:.0f} s")
        seconds = time.perf_counter() - start
        self.print(f"-> exit {rc} after {seconds:.1f} s")
        return rc, seconds


def newest_report(directory: Path) -> dict | None:
    files = sorted(directory.glob("*/*.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(files[-1].read_text()) if files else None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m bench.gpu_check OUT_DIR", file=sys.stderr)
        return 2
    out = Path(args[0])
    out.mkdir(parents=True, exist_ok=True)
    log = Log(out / "gpu-check.log")
    py = sys.executable
    rc, _ = log.run([py, "-m", "envcheck", "--require-cuda", "--json", str(out / "envcheck.json")], 300)
    envcheck = json.loads((out / "envcheck.json").read_text()) if (out / "envcheck.json").exists() else None
    import torch

    if not torch.cuda.is_available():
        log.print("gpu-check: no CUDA device here (torch.cuda.is_available() is False): "
                  "envcheck ran (see its FAIL rows); nothing was benchmarked")
        return 1
    _, quick_wall = log.run([py, "-m", "bench", "run", "--suite", "quick", "--device", "cuda",
                             "--out", str(out / "quick")], 420)
    log.run([py, "-m", "bench", "run", "--device", "cuda", "--suite", "full", *FASTEST,
             "--out", str(out / "fastest")], 240)
    log.run([py, "-m", "bench", "run", "--device", "cuda", "--suite", "quick", *REPEAT,
             "--out", str(out / "repeat")], 120)
    fidelity = []
    for spec in FIDELITY_CASES:
        try:
            fidelity.append(cuda_event_fidelity(spec[0], spec[1], spec[2], spec[3]))
        except Exception as error:  # noqa: BLE001 - one failed measurement must not lose the rest
            log.print(f"fidelity {spec}: {type(error).__name__}: {error}")
    quick = newest_report(out / "quick") or {"benchmarks": [], "torchrig": {"unmeasured": []}}
    targets = evaluate(quick, newest_report(out / "fastest"), newest_report(out / "repeat"), fidelity,
                       envcheck, quick_wall)
    (out / "targets.json").write_text(json.dumps({"targets": [dataclasses.asdict(t) for t in targets],
                                                  "fidelity": fidelity}, indent=2))
    lines = [f"{'target':42} {'goal':28} {'verdict':8} measured"]
    for t in targets:
        verdict = {True: "PASS", False: "MISS", None: "n/a"}[t.passed]
        lines.append(f"{t.name:42} {t.goal:28} {verdict:8} {t.measured}")
    (out / "summary.txt").write_text("\n".join(lines) + "\n")
    log.print("\n".join(lines))
    return 0 if all(t.passed for t in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
