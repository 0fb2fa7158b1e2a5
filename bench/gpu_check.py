"""Everything the GPU proof needs, in one call: `python -m bench.gpu_check OUT_DIR`.

Runs with the machine's own PyTorch (no nox, no package registry), sized for about nine
minutes on an H200, and writes into OUT_DIR:

    envcheck.json          envcheck --require-cuda
    quick/, fastest/, aa/, ddp/, workloads/   the reports of each step (quick/ is the baseline to commit)
    micro/                 `bench micro`: device copy and triad, host<->device, launch, corruption (~2 min)
    baselines/             a baseline recorded in this call, and validate's verdict against it
    targets.json           each target's measured figure and verdict
    gpu-check.log          everything printed, in order
    summary.txt            the target table, also printed last

On a machine without CUDA it says so, runs envcheck (which then FAILs) and stops.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.analysis.compare import Verdict, compare_reports
from bench.results.records import CaseRecord, Status
from bench.results.report import Report, ReportError
from bench.run.process import kill_group

STOP_GRACE_S = 60.0  # a stopped bench writes the reports of what finished, then exits
QUICK_RUNS = ["--runs", "3"]  # the quick suite once, 3 runs a case: 5 minutes of the 9
FASTEST = ["--models", "cnn", "--modes", "train", "--backends", "compile-max-autotune",
           "--precisions", "amp-bf16", "--batch-sizes", "8192", "--channels-last", "--runs", "1"]
AA = ["--models", "cnn,mlp-large", "--modes", "train", "--backends", "eager", "--precisions", "amp-bf16,tf32",
      "--batch-sizes", "4096", "--runs", "5"]  # steps of 1 ms and more, twice, for A/A and validate
DDP = ["--models", "cnn", "--modes", "train", "--backends", "eager", "--precisions", "amp-bf16",
       "--batch-sizes", "4096", "--runs", "3", "--nproc-per-node", "1"]
# `bench micro` sized for about two minutes: two runs a case; the corruption check loads every GPU for 5 s a run;
# peer copy and all-reduce skip themselves on a single GPU
MICRO = ["--runs", "2", "--micro", "mem-copy,mem-triad,h2d-pinned,h2d-pageable,d2h-pinned,d2h-pageable,launch,"
         "peer-copy,allreduce,sdc-matmul:5"]
MICRO_TARGETS = (  # the GPU targets (issue 24): case name, goal, bound, at least (else at most)
    ("mem-copy", "11 H200 device copy (STREAM, 4 GiB)", ">= 4.0 TB/s", 4000.0, True),
    ("h2d-pinned", "12 H2D pinned 1 GiB", ">= 45 GB/s on PCIe Gen5 x16", 45.0, True),
    ("launch", "13 launch latency (tiny op)", "<= 10 us", 10.0, False),
)
FIDELITY_CASES = (("mlp", "eager", "fp32", 64), ("cnn", "eager", "amp-bf16", 4096),
                  ("mlp-large", "eager", "amp-bf16", 4096))  # small, medium and large steps


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    goal: str
    measured: str
    passed: bool | None  # None: could not be measured


def rate(report: Report | None, key: str) -> float | None:
    return report.items_per_s(key) if report else None


def at_least(name: str, goal: str, value: float | None, minimum: float, unit: str = "M images/s",
             scale: float = 1e6) -> Target:
    if value is None:
        return Target(name, goal, "not measured", None)
    return Target(name, goal, f"{value / scale:.3f} {unit}", value >= minimum)


def losses_fall(records: list[CaseRecord]) -> Target:
    """amp-fp16 with GradScaler, TF32, CUDA graphs and max-autotune give finite, decreasing loss."""
    features = {"amp-fp16+GradScaler": lambda c: c.precision == "amp-fp16", "tf32": lambda c: c.precision == "tf32",
                "CUDA graphs": lambda c: c.backend == "compile-reduce-overhead",
                "max-autotune": lambda c: c.backend == "compile-max-autotune"}
    seen: dict[str, list[bool]] = {}
    for record in records:
        loss = record.loss() if record.status is Status.OK and record.case.mode != "infer" else None
        for feature, hit in features.items():
            if hit(record.case) and loss:
                seen.setdefault(feature, []).append(loss[1] < loss[0])
    bad = [f for f, ok in seen.items() if not all(ok)]
    missing = [f for f in features if f not in seen]
    return Target("10 finite, decreasing loss", "fp16+scaler, TF32, graphs, autotune",
                  f"ok: {sorted(set(seen) - set(bad))}; missing: {missing}; not decreasing: {bad}",
                  (not bad and not missing) if seen else None)


def evaluate(reports: dict[str, Report | None], fidelity: list[dict], envcheck: dict | None,
             quick_wall_s: float | None, validate_exit: int | None) -> list[Target]:
    """Each target of the GPU issue from the reports (pure: tested on synthetic reports)."""
    quick, fastest, aa, aa2, ddp = (reports.get(k) for k in ("quick", "fastest", "aa", "aa2", "ddp"))
    targets = []
    if envcheck is None:
        targets.append(Target("1 envcheck --require-cuda", "no FAIL", "not run", None))
    else:
        fails = [c["name"] for c in envcheck["checks"] if c["status"] == "FAIL"]
        targets.append(Target("1 envcheck --require-cuda", "no FAIL", f"{envcheck['counts']}"
                              + (f" FAIL: {', '.join(fails)}" if fails else ""), not fails))
    targets.append(at_least("2a cnn compile amp-bf16 cl bs4096", ">= 0.9 M images/s",
                            rate(quick, "cnn-train-compile-amp-bf16-bs4096-cuda"), 0.9e6))
    cnn = [r.items_per_s for rep in (quick, fastest) if rep for r in rep.ok_cases() if r.case.model == "cnn"
           and r.case.mode == "train"]
    targets.append(at_least("2b cnn fastest configuration", ">= 1.0 M images/s", max(cnn, default=None), 1.0e6))
    eager = rate(quick, "cnn-train-eager-fp32-bs64-cuda")
    graphs = rate(quick, "cnn-train-compile-reduce-overhead-fp32-bs64-cuda")
    targets.append(Target("3 reduce-overhead vs eager fp32 at bs64", ">= 1.3x",
                          f"{graphs / eager:.2f}x" if eager and graphs else "not measured",
                          graphs / eager >= 1.3 if eager and graphs else None))
    mfus = [quick.mfu(r) for r in quick.ok_cases() if r.case.model == "mlp-large" and r.case.precision == "amp-bf16"
            and quick.mfu(r)] if quick else []
    targets.append(Target("4 mlp-large amp-bf16 of bf16 ceiling", ">= 80 %",
                          f"{max(mfus) * 100:.1f} %" if mfus else "not measured", max(mfus) >= 0.8 if mfus else None))
    worst = max((abs(f["ratio"] - 1) for f in fidelity), default=None)
    targets.append(Target("5 bench vs CUDA events (3 steps)", "within 2 %",
                          ", ".join(f"{f['case']} {f['ratio']:.4f}" for f in fidelity) or "not measured",
                          worst <= 0.02 if worst is not None else None))
    if aa and aa2:
        comparison = compare_reports(aa, aa2, margin_pct=3.0)
        called = [c.key for c in comparison.cases if c.verdict in (Verdict.FASTER, Verdict.SLOWER)]
        detail = f"{len(comparison.cases)} cases: {len(called)} called different; validate exit {validate_exit}"
        targets.append(Target("6 A/A at --fail-above 3, validate", "no case significant; healthy", detail,
                              not comparison.regressions(3.0) and validate_exit == 0))
    else:
        targets.append(Target("6 A/A at --fail-above 3, validate", "no case significant; healthy", "not measured",
                              None))
    targets.append(Target("7 quick suite wall time", "<= 300 s", f"{quick_wall_s:.0f} s" if quick_wall_s else
                          "not measured", quick_wall_s <= 300 if quick_wall_s else None))
    figures = [(label, rate(quick, key)) for label, key in (
        ("resnet50 train", "resnet50-train-compile-amp-bf16-bs256-cuda-cl"),
        ("llm-1b train tok/s", "llm-1b-train-eager-amp-bf16-bs8-cuda"),
        ("llm-1b lora tok/s", "llm-1b-finetune-lora-eager-amp-bf16-bs8-cuda"))]
    llm = quick.find("llm-1b-train-eager-amp-bf16-bs8-cuda") if quick else None
    llm_mfu = quick.mfu(llm) if llm and llm.status is Status.OK else None
    latency = quick.find("resnet50-infer-eager-amp-bf16-bs1-cuda-cl") if quick else None
    percentiles = latency.latency_percentiles() if latency and latency.status is Status.OK else None
    text = ", ".join(f"{label} {value:,.0f}" for label, value in figures if value)
    text += f"; llm-1b MFU {llm_mfu * 100:.1f} %" if llm_mfu else ""
    text += (f"; resnet50 bs1 p50 {percentiles['p50'] * 1e3:.2f} ms p99 {percentiles['p99'] * 1e3:.2f} ms"
             if percentiles else "")
    targets.append(Target("8 workloads (baseline figures)", "llm-1b MFU >= 40 %", text or "not measured",
                          llm_mfu >= 0.4 if llm_mfu else None))
    pair = [(r, ddp.find(r.case.sibling(world_size=1, dist_backend=None).key)) for r in ddp.ok_cases()
            if r.case.world_size > 1] if ddp else []
    pair = [(a, b) for a, b in pair if b and b.status is Status.OK]
    ratio = pair[0][0].items_per_s / pair[0][1].items_per_s if pair else None
    targets.append(Target("9 DDP world 1 vs plain", "within 5 %", f"{ratio:.3f}" if ratio else "not measured",
                          abs(ratio - 1) <= 0.05 if ratio else None))
    targets.append(losses_fall([r for rep in (quick, fastest) if rep for r in rep.cases]))
    return targets + micro_targets(reports.get("micro"))


def micro_targets(micro: Report | None) -> list[Target]:
    """The micro-benchmarks' targets: device copy, pinned H2D (with the link NVML reports), launch latency, and
    no silent data corruption."""
    from bench.results.limits import micro_figure

    records = {r.case.model: r for r in micro.cases if r.case.micro is not None} if micro else {}
    targets = []
    for name, label, goal, bound, at_least_bound in MICRO_TARGETS:
        record = records.get(name)
        figure = micro_figure(record, None) if record and record.status is Status.OK else None
        if figure is None or figure.value is None:
            targets.append(Target(label, goal, "not measured" if record is None else
                                  f"{record.status.value}: {record.reason}", None))
            continue
        link = next((run.micro.link for run in record.ok_runs if run.micro and run.micro.link), None)
        text = f"{figure.value:,.2f} {figure.unit}" + (f" ({link.describe()})" if link else "")
        targets.append(Target(label, goal, text, figure.value >= bound if at_least_bound else figure.value <= bound))
    sdc = records.get("sdc-matmul")
    if sdc is None:
        targets.append(Target("14 no silent data corruption", "bitwise equal, float64 within bound", "not measured",
                              None))
    else:
        checks = [c for run in sdc.runs if run.micro for c in run.micro.corruption]
        text = (f"{sum(c.iterations for c in checks)} matmuls on {len({c.device for c in checks})} device(s), "
                f"{sum(c.mismatches for c in checks)} mismatches" if sdc.status is Status.OK
                else f"{sdc.status.value}: {sdc.reason}")
        targets.append(Target("14 no silent data corruption", "bitwise equal, float64 within bound", text,
                              sdc.status is Status.OK and bool(checks)))
    return targets


def cuda_event_fidelity(model: str, backend: str, precision: str, batch: int) -> dict:
    """bench's median step against CUDA events around the same rounds, interleaved."""
    import torch

    from bench.config import SUITE_DEFS
    from bench.measure.jobs import Options
    from bench.measure.protocol import prepared_step
    from bench.measure.timing import time_round
    from bench.results.cases import Case

    case = Case(model, "train", backend, precision, batch, "cuda")
    rules = SUITE_DEFS["quick"].timing
    with prepared_step(case, rules, Options()) as (step, clock, prepared):
        steps = prepared.steps
        bench_s, event_s = [], []
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        for _ in range(7):
            bench_s.append(time_round(step, steps, clock) / steps)
            torch.cuda.synchronize()
            start.record()
            for _ in range(steps):
                step()
            end.record()
            end.synchronize()
            event_s.append(start.elapsed_time(end) / 1e3 / steps)
    ratio = statistics.median(bench_s) / statistics.median(event_s)
    return {"case": case.key, "bench_step_s": statistics.median(bench_s), "event_step_s": statistics.median(event_s),
            "ratio": ratio, "steps_per_round": steps}


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
        process = subprocess.Popen(args, stdout=self.handle, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)  # bench writes the finished cases on SIGTERM
            try:
                rc = process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                kill_group(process)  # its workers too: nothing of it outlives the proof's call
                rc = process.returncode
            self.print(f"stopped after {timeout_s:.0f} s")
        seconds = time.perf_counter() - start
        self.print(f"-> exit {rc} after {seconds:.1f} s")
        return rc, seconds


def newest(directory: Path) -> Report | None:
    files = sorted(directory.glob("*/*.json"), key=lambda p: p.stat().st_mtime)
    try:
        return Report.load(files[-1]) if files else None
    except ReportError:
        return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m bench.gpu_check OUT_DIR", file=sys.stderr)
        return 2
    out = Path(args[0])
    out.mkdir(parents=True, exist_ok=True)
    log = Log(out / "gpu-check.log")
    py, bench = sys.executable, [sys.executable, "-m", "bench"]
    import torch

    cuda_here = torch.cuda.is_available()
    quick = [] if cuda_here else ["--quick"]  # without a GPU, envcheck only has to say so
    log.run([py, "-m", "envcheck", "--require-cuda", *quick, "--json", str(out / "envcheck.json")], 120)
    envcheck = json.loads((out / "envcheck.json").read_text()) if (out / "envcheck.json").exists() else None
    if not cuda_here:
        log.print("gpu-check: no CUDA device here (torch.cuda.is_available() is False): "
                  "envcheck ran (see its FAIL rows); nothing was benchmarked")
        return 1
    cuda = ["--device", "cuda"]
    _, quick_wall = log.run([*bench, "run", "--suite", "quick", *cuda, *QUICK_RUNS, "--out", str(out / "quick")], 330)
    log.run([*bench, "run", "--suite", "full", *cuda, *FASTEST, "--out", str(out / "fastest")], 150)
    for name in ("aa", "aa2"):
        log.run([*bench, "run", *cuda, *AA, "--out", str(out / name)], 60)
    baselines = out / "baselines"
    for extra in (["--record"], ["--record"], []):  # two recorded runs make a baseline; the third is judged
        validate_exit, _ = log.run([*bench, "validate", *cuda, *AA[:-2], "--runs", "3", "--baselines",
                                    str(baselines), "--out", str(out / "validate"), *extra], 60)
    log.run([*bench, "run", *cuda, *DDP, "--out", str(out / "ddp")], 60)
    log.run([*bench, "micro", *cuda, *MICRO, "--out", str(out / "micro")], 180)
    fidelity = []
    for spec in FIDELITY_CASES:
        try:
            fidelity.append(cuda_event_fidelity(*spec))
        except Exception as error:  # noqa: BLE001 - one failed measurement must not lose the rest
            log.print(f"fidelity {spec}: {type(error).__name__}: {error}")
    reports = {name: newest(out / name) for name in ("quick", "fastest", "aa", "aa2")}
    reports["ddp"] = newest(out / "ddp")
    reports["micro"] = newest(out / "micro")
    targets = evaluate(reports, fidelity, envcheck, quick_wall, validate_exit)
    (out / "targets.json").write_text(json.dumps({"targets": [dataclasses.asdict(t) for t in targets],
                                                  "fidelity": fidelity}, indent=2))
    lines = [f"{'target':42} {'goal':36} {'verdict':8} measured"]
    lines += [f"{t.name:42} {t.goal:36} {dict([(True, 'PASS'), (False, 'MISS'), (None, 'n/a')])[t.passed]:8} "
              f"{t.measured}" for t in targets]
    (out / "summary.txt").write_text("\n".join(lines) + "\n")
    log.print("\n".join(lines))
    return 0 if all(t.passed for t in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
