"""Fan-out on Slurm: one job array, one task per node, each running `bench fleet task` (validate, then the store).

torchrig submits, reads status and analyses; Slurm schedules. An array task cannot name its own node (sbatch's
--nodelist applies to every element), so the array is submitted held, each element is pinned to its node with
`scontrol update jobid=J_i reqnodelist=NODE` (which splits it off the array's pending record), and the array is
released: index i runs on node i, --exclusive, with a time limit per task. Status comes from `scontrol show job`
(every element Slurm still remembers: pending with its reason, running, or finished with its state) and, for the
elements it has forgotten (MinJobAge), from `sacct` where accounting is enabled.

Commands run through an injectable runner (argv list, never a shell), so that a test can drive a real cluster in
a temporary folder (tests/slurm_cluster.py) with its own SLURM_CONF.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

Runner = Callable[[Sequence[str], str | None], str]  # (argv, stdin) -> stdout; raises SlurmError


class SlurmError(RuntimeError):
    """A Slurm command failed or is missing: the message holds its first line of stderr and the fix."""


def run_command(argv: Sequence[str], stdin: str | None = None, timeout: float = 120.0) -> str:
    try:
        done = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise SlurmError(f"{argv[0]}: not found; run this on a Slurm login node (or install slurm-client)") from None
    except subprocess.TimeoutExpired:
        raise SlurmError(f"{argv[0]} did not answer within {timeout:g} s (is slurmctld up?)") from None
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[0]
        raise SlurmError(f"{' '.join(argv[:2])}: {first}")
    return done.stdout


@dataclasses.dataclass(frozen=True)
class SubmitRequest:
    fleet_key: str
    nodes: tuple[str, ...]
    tier: int
    time_minutes: int
    out: Path  # reports, logs and the batch script
    partition: str | None = None
    validate_args: tuple[str, ...] = ()  # passed on to validate (e.g. --runs 2)
    python: str = sys.executable
    extra_sbatch: tuple[str, ...] = ()
    array_limit: int | None = None  # at most this many tasks at once (sbatch's %N)
    shared_nodes: bool = False  # several indexes on one node: a large array simulated on a small cluster (tests)

    def __post_init__(self) -> None:
        if not self.nodes:
            raise ValueError("a fleet job needs at least one node")
        if len(set(self.nodes)) != len(self.nodes) and not self.shared_nodes:
            raise ValueError("a node is listed twice; each node gets one task")
        if self.array_limit is not None and self.array_limit < 1:
            raise ValueError(f"--array-limit must be at least 1, got {self.array_limit}")
        if self.time_minutes < 1:
            raise ValueError(f"the time limit per task must be at least 1 minute, got {self.time_minutes}")

    @property
    def script_path(self) -> Path:
        return self.out / f"fleet-{self.fleet_key}.sbatch"


def batch_script(request: SubmitRequest) -> str:
    """The array's batch script: each element runs validate at the tier, pinned node and index from Slurm's
    environment; reports under OUT/<node>/, the log beside the script."""
    task = [request.python, "-m", "bench", "fleet", "task", "--fleet", request.fleet_key, "--tier",
            str(request.tier), "--out", str(request.out)]
    if request.validate_args:
        task += ["--", *request.validate_args]
    lines = ["#!/bin/bash",
             f"#SBATCH --job-name=torchrig-fleet-{request.fleet_key}",
             "#SBATCH --nodes=1",
             "#SBATCH --ntasks=1",
             "#SBATCH --exclusive",
             f"#SBATCH --time={request.time_minutes}",
             f"#SBATCH --output={request.out}/slurm-%A_%a.out"]
    if request.partition:
        lines.append(f"#SBATCH --partition={request.partition}")
    lines += [f"cd {shlex.quote(str(Path.cwd()))}",
              "exec " + " ".join(shlex.quote(part) for part in task), ""]
    return "\n".join(lines)


def array_spec(indexes: Sequence[int]) -> str:
    return ",".join(str(index) for index in sorted(indexes))


def submit(request: SubmitRequest, indexes: Sequence[int] | None = None, runner: Runner | None = None,
           environ: Mapping[str, str] | None = None) -> str:
    """Write the script, submit the (chosen) indexes held, pin each to its node, release; the array job id."""
    run = runner or run_command
    chosen = list(range(len(request.nodes))) if indexes is None else list(indexes)
    request.out.mkdir(parents=True, exist_ok=True)
    request.script_path.write_text(batch_script(request), encoding="utf-8")
    limit = f"%{request.array_limit}" if request.array_limit else ""
    argv = ["sbatch", "--parsable", "--hold", f"--array={array_spec(chosen)}{limit}", *request.extra_sbatch,
            str(request.script_path)]
    job = run(argv, None).strip().split(";")[0]
    if not job.isdigit():
        raise SlurmError(f"sbatch answered {job!r}, not a job id")
    pins = "".join(f"update jobid={job}_{index} reqnodelist={request.nodes[index]}\n" for index in chosen)
    try:
        run(["scontrol"], pins + "quit\n")
        run(["scontrol", "release", job], None)
    except SlurmError:
        run(["scancel", job], None)  # a half-pinned array must not run tasks on the wrong nodes
        raise
    return job


def expand_nodes(text: str, runner: Runner | None = None) -> tuple[str, ...]:
    """A Slurm hostlist ('n[1-4],gpu7') as node names, by `scontrol show hostnames`."""
    run = runner or run_command
    return tuple(line.strip() for line in run(["scontrol", "show", "hostnames", text], None).splitlines()
                 if line.strip())


def partition_nodes(partition: str, runner: Runner | None = None) -> tuple[str, ...]:
    run = runner or run_command
    names = [line.strip() for line in run(["sinfo", "-h", "-N", "-p", partition, "-o", "%N"], None).splitlines()]
    found = tuple(dict.fromkeys(name for name in names if name))
    if not found:
        raise SlurmError(f"partition {partition!r} has no nodes (sinfo -p {partition})")
    return found


@dataclasses.dataclass(frozen=True)
class ElementState:
    """What Slurm says of one array element."""

    job: str  # e.g. 1234_5
    index: int
    state: str  # PENDING, RUNNING, COMPLETED, FAILED, TIMEOUT, CANCELLED, NODE_FAIL, ...
    reason: str | None  # Slurm's reason (pending, or why it ended)
    nodes: str | None
    exit_code: str | None

    @property
    def active(self) -> bool:
        return self.state in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED",
                              "RESIZING")


PAIR = re.compile(r"(\w+)=(\S*)")


def _indexes(text: str) -> list[int]:
    """'3' or a pending record's '0-3,7%2' -> the indexes."""
    out = []
    for part in text.split("%")[0].split(","):
        if "-" in part:
            low, high = part.split("-", 1)
            out += range(int(low), int(high) + 1)
        elif part.isdigit():
            out.append(int(part))
    return out


def element_states(jobs: Sequence[str], runner: Runner | None = None) -> dict[int, ElementState]:
    """index -> the latest of the array jobs' (in submission order, later wins) elements Slurm remembers."""
    run = runner or run_command
    found: dict[int, ElementState] = {}
    for job in jobs:
        try:
            text = run(["scontrol", "show", "job", "-o", job], None)
        except SlurmError:
            text = ""  # forgotten by slurmctld (MinJobAge): sacct below
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines:
            found.update(sacct_states(job, run))
            continue
        for line in lines:
            fields = dict(PAIR.findall(line))
            if fields.get("ArrayJobId") != job or "ArrayTaskId" not in fields:
                continue
            reason = fields.get("Reason")
            for index in _indexes(fields["ArrayTaskId"]):
                found[index] = ElementState(f"{job}_{index}", index, fields.get("JobState", "?"),
                                            None if reason in (None, "None") else reason,
                                            fields.get("NodeList") or None if fields.get("NodeList") != "(null)"
                                            else None,
                                            fields.get("ExitCode"))
    return found


def sacct_states(job: str, runner: Runner) -> dict[int, ElementState]:
    """Finished elements from accounting (absent where accounting is disabled: then nothing is known)."""
    try:
        text = runner(["sacct", "-j", job, "--array", "-X", "-n", "-P", "-o", "JobID,State,Reason,NodeList,ExitCode"],
                      None)
    except SlurmError:
        return {}
    found = {}
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) < 5 or "_" not in parts[0]:
            continue
        index = parts[0].split("_", 1)[1]
        if index.isdigit():
            state = parts[1].split()[0] if parts[1] else "?"
            found[int(index)] = ElementState(parts[0], int(index), state, parts[2] or None, parts[3] or None,
                                             parts[4] or None)
    return found


def node_state(node: str, runner: Runner | None = None) -> str | None:
    """The node's state and reason (`sinfo`), e.g. 'down: Not responding', for a missing task's explanation."""
    run = runner or run_command
    try:
        text = run(["sinfo", "-h", "-n", node, "-N", "-o", "%T|%E"], None).strip().splitlines()
    except SlurmError:
        return None
    if not text:
        return None
    state, _, reason = text[0].partition("|")
    return f"{state}: {reason}" if reason and reason != "none" else state


def this_task(environ: Mapping[str, str] = os.environ) -> tuple[int | None, str | None, str | None]:
    """(array index, node, array element id) of the Slurm task this process runs in; Nones outside Slurm."""
    index = environ.get("SLURM_ARRAY_TASK_ID")
    job = environ.get("SLURM_ARRAY_JOB_ID")
    element = f"{job}_{index}" if job and index else environ.get("SLURM_JOB_ID")
    return (int(index) if index and index.isdigit() else None), environ.get("SLURMD_NODENAME"), element
