"""A throw-away PostgreSQL server from the distribution's package, for the tests that need a real one.

initdb into a temporary data directory, pg_ctl start on a free local port (a Unix socket in that directory, TCP
on 127.0.0.1 only), as the unprivileged ``postgres`` user when we are root (PostgreSQL refuses to run as root);
``stop`` shuts it down and removes the directory. No password: trust authentication on loopback only.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

SERVER_USER = "postgres"


def binaries() -> Path | None:
    """The newest installed server's bin folder (Debian: /usr/lib/postgresql/<major>/bin), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", SERVER_USER, "--", *command]


@dataclasses.dataclass
class Server:
    bin: Path
    data: Path
    port: int
    options: str = ""  # pg_ctl start -o: the port, socket folder, listen address and durability settings

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{SERVER_USER}@127.0.0.1:{self.port}/postgres"

    def run(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(as_server_user([str(self.bin / args[0]), *args[1:]]), check=True, timeout=timeout,
                       capture_output=True, text=True)

    def stop(self) -> None:
        try:
            self.run("pg_ctl", "stop", "-D", str(self.data / "db"), "-m", "immediate", "-w")
        finally:
            shutil.rmtree(self.data, ignore_errors=True)

    def halt(self) -> None:
        """Shut the server down, keeping its data (an outage: ``restart`` brings it back on the same port)."""
        self.run("pg_ctl", "stop", "-D", str(self.data / "db"), "-m", "fast", "-w")

    def restart(self) -> None:
        self.run("pg_ctl", "start", "-D", str(self.data / "db"), "-w", "-t", "60", "-l", str(self.data / "log"),
                 "-o", self.options, timeout=90)

    def create_database(self, name: str) -> str:
        self.run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", SERVER_USER, name)
        return self.url.rsplit("/", 1)[0] + f"/{name}"


def start(bin_dir: Path, *, durable: bool = False) -> Server:
    """durable=False turns fsync off (tests: nothing to keep); True keeps PostgreSQL's defaults (measuring)."""
    data = Path(tempfile.mkdtemp(prefix="torchrig-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, SERVER_USER)
    server = Server(bin_dir, data, free_port())
    server.options = f"-p {server.port} -k {data} -c listen_addresses=127.0.0.1 -c max_connections=64"
    if not durable:
        server.options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    try:
        server.run("initdb", "-D", str(data / "db"), "-U", SERVER_USER, "--auth=trust", "-E", "UTF8", "--no-sync",
                   timeout=120)
        server.restart()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        log = (data / "log").read_text(errors="replace") if (data / "log").exists() else ""
        shutil.rmtree(data, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {getattr(error, 'stderr', '') or error}\n{log}") from None
    return server
