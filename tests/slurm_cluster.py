"""A throw-away Slurm cluster on this one host, from the distribution's packages, for the tests that need a real one.

It installs nothing (Debian: `apt-get install -y slurm-wlm munge`; .ci/run does it when they are missing). It
writes a slurm.conf into a temporary folder /tmp/h23-slurm-*, with nodes n1..nN that all live on this host
(``NodeHostname`` this host, a distinct ``Port`` each, one ``slurmd -N nX`` each), proctrack/linuxproc and
task/none (no cgroups needed), per-node spool, log and PID paths; starts munged with its own key and socket in
that folder, slurmctld and the slurmds; ``stop`` ends each by the PID it started and removes the folder. Commands
reach this cluster through ``env`` (SLURM_CONF).
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "scontrol", "squeue", "sinfo", "scancel")


def missing_binaries() -> list[str]:
    found = {name: shutil.which(name) or (Path("/usr/sbin") / name).exists() for name in BINARIES}
    return [name for name, there in found.items() if not there]


def binary(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin") / name)


def free_ports(count: int) -> list[int]:
    sockets, ports = [], []
    try:
        for _ in range(count):
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            sockets.append(probe)
            ports.append(probe.getsockname()[1])
    finally:
        for probe in sockets:
            probe.close()
    return ports


@dataclasses.dataclass
class Cluster:
    folder: Path
    nodes: tuple[str, ...]
    processes: list[subprocess.Popen]

    @property
    def conf(self) -> Path:
        return self.folder / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def command(self, *argv: str, timeout: float = 60) -> str:
        done = subprocess.run([binary(argv[0]), *argv[1:]], env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
        return done.stdout

    def wait_idle_nodes(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                states = self.command("sinfo", "-h", "-N", "-o", "%N %T").split()
            except RuntimeError:
                states = []
            idle = {states[i] for i in range(0, len(states) - 1, 2) if states[i + 1] in ("idle", "mixed")}
            if idle >= set(self.nodes):
                return
            time.sleep(0.5)
        raise RuntimeError(f"Slurm's nodes did not come up within {timeout:g} s:\n{self.logs()}")

    def wait_jobs_done(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.command("squeue", "-h", "-o", "%i").strip():
                return
            time.sleep(0.5)
        raise RuntimeError(f"jobs still queued after {timeout:g} s:\n{self.command('squeue')}")

    def logs(self) -> str:
        parts = []
        for log in sorted(self.folder.glob("*.log")):
            parts.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
        return "\n".join(parts)

    def stop(self) -> None:
        try:  # jobs first: their slurmstepds outlive the slurmds otherwise
            self.command("scancel", "--user", getpass.getuser(), timeout=20)
            time.sleep(1)
        except (RuntimeError, subprocess.TimeoutExpired, OSError):
            pass
        for process in reversed(self.processes):  # slurmds, slurmctld, then munged: by the PID we started
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        shutil.rmtree(self.folder, ignore_errors=True)


def slurm_conf(folder: Path, host: str, nodes: tuple[str, ...], ctld_port: int, node_ports: list[int]) -> str:
    cpus = os.cpu_count() or 1
    lines = [
        "ClusterName=torchrig-test",
        f"SlurmctldHost={host}",
        f"SlurmctldPort={ctld_port}",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={folder}/munge.sock",
        "SlurmUser=root",
        "SlurmdUser=root",
        f"StateSaveLocation={folder}/state",
        f"SlurmdSpoolDir={folder}/spool/%n",
        f"SlurmctldPidFile={folder}/slurmctld.pid",
        f"SlurmdPidFile={folder}/slurmd-%n.pid",
        f"SlurmctldLogFile={folder}/slurmctld.log",
        f"SlurmdLogFile={folder}/slurmd-%n.log",
        "SlurmdParameters=config_overrides",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "SchedulerType=sched/backfill",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "ReturnToService=2",
        "MpiDefault=none",
        "MinJobAge=3600",
        "MaxArraySize=4001",
        "MaxJobCount=50000",
        "SlurmctldTimeout=30",
        "SlurmdTimeout=60",
        "InactiveLimit=0",
        "KillWait=5",
        "SchedulerParameters=defer_batch,sched_interval=2",
    ]
    lines += [f"NodeName={node} NodeHostname={host} NodeAddr=127.0.0.1 Port={port} CPUs={cpus} RealMemory=1000 "
              "State=UNKNOWN" for node, port in zip(nodes, node_ports, strict=True)]
    lines.append(f"PartitionName=test Nodes={','.join(nodes)} Default=YES MaxTime=INFINITE State=UP")
    return "\n".join(lines) + "\n"


def start(count: int = 4) -> Cluster:
    """munged, slurmctld and ``count`` slurmds on this host; RuntimeError with their logs if one fails."""
    folder = Path(tempfile.mkdtemp(prefix="h23-slurm-", dir="/tmp"))
    os.chmod(folder, 0o755)
    nodes = tuple(f"n{i}" for i in range(1, count + 1))
    host = socket.gethostname().split(".")[0]
    ports = free_ports(count + 1)
    for sub in ("state", "spool"):
        (folder / sub).mkdir()
    for node in nodes:
        (folder / "spool" / node).mkdir()
    key = folder / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    (folder / "slurm.conf").write_text(slurm_conf(folder, host, nodes, ports[0], ports[1:]), encoding="utf-8")
    cluster = Cluster(folder, nodes, [])
    env = cluster.env
    try:
        cluster.processes.append(subprocess.Popen(
            [binary("munged"), "--foreground", "--force", f"--socket={folder}/munge.sock", f"--key-file={key}",
             f"--pid-file={folder}/munged.pid", f"--log-file={folder}/munged.log", f"--seed-file={folder}/munge.seed"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 20
        while not (folder / "munge.sock").exists():
            if time.monotonic() > deadline or cluster.processes[0].poll() is not None:
                raise RuntimeError("munged did not start")
            time.sleep(0.1)
        with open(folder / "slurmctld.out", "wb") as out:
            cluster.processes.append(subprocess.Popen([binary("slurmctld"), "-D", "-i", "-f", str(cluster.conf)],
                                                      env=env, stdout=out, stderr=subprocess.STDOUT))
        for node in nodes:
            with open(folder / f"slurmd-{node}.out", "wb") as out:
                cluster.processes.append(subprocess.Popen([binary("slurmd"), "-D", "-N", node, "-f", str(cluster.conf)],
                                                          env=env, stdout=out, stderr=subprocess.STDOUT))
        cluster.wait_idle_nodes()
    except (RuntimeError, OSError) as error:
        logs = cluster.logs() + "".join(f"\n--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
                                        for p in folder.glob("*.out"))
        cluster.stop()
        raise RuntimeError(f"the test Slurm cluster did not start: {error}\n{logs}") from None
    return cluster
