"""The results database's tables: one schema for SQLite and PostgreSQL (SQLAlchemy Core).

Modelled on Conbench's data (run, result, hardware, context, history key) and on what a report holds:

- ``machine``: a hardware fingerprint (envcheck/fingerprint.py) and the fields it hashes;
- ``software``: a software environment (python, torch, CUDA, cuDNN, driver, packages), deduplicated by hash;
- ``invocation``: one `bench run` or validate (one report), unique by ``invocation_key``; it keeps the report's
  full JSON (zlib-compressed) so that an export gives back exactly what was imported. Its ``state`` says where it
  is: ``running`` from its start (its runs are written as they finish), ``done`` or ``interrupted`` (a signal, a
  full disk: partial) once its report is written; ``start_key`` (known at the start, the same for a --resume and
  for the report imported later) finds it again, and ``updated`` is when it was last written (a running
  invocation whose ``updated`` is old was killed without a word);
- ``history_key``: a case on one fingerprint in one software *context* (the setup's environment variables,
  which a user sets on purpose; versions are not part of it: a series runs across torch and driver changes,
  and those are what ``bench history`` shows along it);
- ``case_result``: a case of an invocation (status, reason, median step over runs, throughput, noise);
- ``run_result``: one fresh process of a case (median step, raw rounds, noise, compile, memory), unique by
  (invocation, case key, run index);
- ``envcheck_report`` / ``envcheck_result``: an envcheck JSON and its checks;
- ``validate_verdict``: validate's verdict about an invocation.

Columns are typed for queries (floats, timestamps as ISO text in UTC so both back ends sort them alike); the
rest is JSON. Changing a table means a new Alembic revision under migrations/versions.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# Stable constraint names, so that migrations can name what they change on both back ends.
metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s", "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s", "pk": "pk_%(table_name)s"})

KEY = 64  # sha256 hex digests
NAME = 255

# invocation.state (revision 0003)
RUNNING = "running"  # started; its runs are written as they finish, its cases and report at the end
DONE = "done"  # its report is written and stored whole
INTERRUPTED = "interrupted"  # its report is written but partial (a signal, a full disk), or it ended without one
STATES = (RUNNING, DONE, INTERRUPTED)

machine = Table(
    "machine", metadata,
    Column("id", Integer, primary_key=True),
    Column("fingerprint", String(NAME), nullable=False, unique=True),
    Column("device", String(16), nullable=False),  # cpu or cuda
    Column("device_name", String(NAME), nullable=False),
    Column("fields", JSON, nullable=False),  # the fingerprint's hashed fields, [[key, value], ...]
)

software = Table(
    "software", metadata,
    Column("id", Integer, primary_key=True),
    Column("software_key", String(KEY), nullable=False, unique=True),
    Column("python", String(NAME)),
    Column("torch", String(NAME)),
    Column("cuda", String(NAME)),  # torch's CUDA build
    Column("cudnn", String(NAME)),
    Column("driver", String(NAME)),  # the NVIDIA driver, from NVML
    Column("packages", JSON, nullable=False),  # name -> version
)

invocation = Table(
    "invocation", metadata,
    Column("id", Integer, primary_key=True),
    Column("invocation_key", String(KEY), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # run or validate
    Column("machine_id", ForeignKey("machine.id"), nullable=False),
    Column("software_id", ForeignKey("software.id"), nullable=False),
    Column("hostname", String(NAME)),
    Column("started", String(40), nullable=False),  # ISO 8601, UTC
    Column("created", String(40), nullable=False),  # when the report was written
    Column("wall_s", Float),
    Column("suite", String(NAME)),
    Column("device", String(16)),
    Column("label", String(NAME)),
    Column("setup_label", String(NAME)),
    Column("argv", JSON, nullable=False),
    Column("setup", JSON, nullable=False),
    Column("rules", JSON, nullable=False),
    Column("ceilings", JSON, nullable=False),
    Column("runs_planned", Integer),
    Column("cases_planned", Integer),
    Column("cases_finished", Integer),
    Column("interrupted", Boolean, nullable=False),
    Column("git_commit", String(NAME)),  # pytest-benchmark's commit_info, when there was one
    Column("git_dirty", Boolean),
    Column("report", LargeBinary, nullable=False),  # the report's JSON, zlib: the export's source
    # revision 0003: streaming. While running, invocation_key holds start_key (the report's own key needs its
    # creation time) and report an empty report of the invocation (no case yet)
    Column("state", String(16), nullable=False),  # RUNNING, DONE or INTERRUPTED
    Column("start_key", String(KEY), nullable=False, unique=True),  # rows.start_key
    Column("updated", String(40), nullable=False),  # ISO 8601, UTC: its last write (a run, its end)
    Index(None, "machine_id", "started"),
    Index(None, "started"),  # revision 0002: `history --since` and the export read by start
    Index(None, "state"),  # revision 0003: a fleet's reader asks which nodes are running
)

history_key = Table(
    "history_key", metadata,
    Column("history_key", String(KEY), primary_key=True),  # a digest: writers need not look its id up
    Column("case_key", String(NAME), nullable=False),
    Column("fingerprint", String(NAME), nullable=False),
    Column("context", JSON, nullable=False),  # the setup's environment variables
    Index(None, "case_key"),
    Index(None, "fingerprint"),
)

case_result = Table(
    "case_result", metadata,
    Column("id", Integer, primary_key=True),
    Column("invocation_id", ForeignKey("invocation.id", ondelete="CASCADE"), nullable=False),
    Column("history_key", ForeignKey("history_key.history_key"), nullable=False),
    Column("case_key", String(NAME), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text),
    Column("step_s", Float),  # median over the measured runs of each run's median step
    Column("items_per_s", Float),
    Column("unit", String(16)),
    Column("run_spread_cv", Float),
    Column("noisy", Boolean, nullable=False),
    Column("runs", Integer, nullable=False),
    UniqueConstraint("invocation_id", "case_key"),
    Index(None, "history_key", "invocation_id"),
)

run_result = Table(
    "run_result", metadata,
    Column("id", Integer, primary_key=True),
    Column("invocation_id", ForeignKey("invocation.id", ondelete="CASCADE"), nullable=False),
    Column("case_key", String(NAME), nullable=False),
    Column("run_index", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text),
    Column("step_s", Float),  # the run's median step
    Column("steps_per_round", Integer),
    Column("round_s", JSON, nullable=False),  # raw round times
    Column("noisy", Boolean, nullable=False),
    Column("noise", JSON),
    Column("compile_s", Float),
    Column("compile_cache", String(16)),
    Column("peak_memory_bytes", BigInteger),
    Column("memory_kind", String(32)),
    Column("duration_s", Float),
    UniqueConstraint("invocation_id", "case_key", "run_index"),
)

envcheck_report = Table(
    "envcheck_report", metadata,
    Column("id", Integer, primary_key=True),
    Column("envcheck_key", String(KEY), nullable=False, unique=True),
    Column("machine_id", ForeignKey("machine.id"), nullable=False),
    Column("software_id", ForeignKey("software.id"), nullable=False),
    Column("hostname", String(NAME)),
    Column("created", String(40), nullable=False),
    Column("verdict", String(8), nullable=False),
    Column("options", JSON, nullable=False),
    Column("report", LargeBinary, nullable=False),  # the file's JSON, zlib
)

envcheck_result = Table(
    "envcheck_result", metadata,
    Column("id", Integer, primary_key=True),
    Column("envcheck_id", ForeignKey("envcheck_report.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(NAME), nullable=False),
    Column("status", String(8), nullable=False),
    Column("detail", Text, nullable=False),
    Column("fix", Text),
    Column("duration_s", Float),
    UniqueConstraint("envcheck_id", "name"),
)

validate_verdict = Table(
    "validate_verdict", metadata,
    Column("id", Integer, primary_key=True),
    Column("invocation_id", ForeignKey("invocation.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("verdict", String(16), nullable=False),  # healthy, broken, degraded, inconclusive
    Column("exit_code", Integer, nullable=False),
    Column("threshold_pct", Float),
    Column("baseline", Text),  # where the baseline came from
    Column("reasons", JSON, nullable=False),
)

# Revision 0004 (issue 23): fleet validation. A fleet job is one submission of validate to many nodes (a Slurm job
# array, resubmitted for its missing indexes, or a Kubernetes Indexed Job); a task is one index of it, pinned to one
# node. Tasks are written at submission (state "submitted") so that a node that never reports is missing, not
# absent; each task marks itself running and then done with the invocation its validate stored.
fleet_job = Table(
    "fleet_job", metadata,
    Column("id", Integer, primary_key=True),
    Column("fleet_key", String(NAME), nullable=False, unique=True),  # torchrig's id, known before submission
    Column("scheduler", String(16), nullable=False),  # slurm or kubernetes
    Column("scheduler_jobs", JSON, nullable=False),  # Slurm array job ids: the first submission, then resubmissions
    Column("tier", Integer, nullable=False),
    Column("submitted", String(40), nullable=False),  # ISO 8601, UTC
    Column("partition", String(NAME)),
    Column("nodes", JSON, nullable=False),  # the node of each index, in index order
    Column("options", JSON, nullable=False),  # validate's extra arguments, the time limit, the output folder
)

fleet_task = Table(
    "fleet_task", metadata,
    Column("id", Integer, primary_key=True),
    Column("fleet_job_id", ForeignKey("fleet_job.id", ondelete="CASCADE"), nullable=False),
    Column("task_index", Integer, nullable=False),
    Column("node", String(NAME), nullable=False),  # where it was pinned; ran_on says where it ran
    Column("ran_on", String(NAME)),
    Column("state", String(16), nullable=False),  # submitted, running, done
    Column("scheduler_job", String(NAME)),  # the array element that ran it last, e.g. 1234_5
    Column("attempts", Integer, nullable=False),
    Column("started", String(40)),
    Column("finished", String(40)),
    Column("exit_code", Integer),
    Column("verdict", String(16)),
    Column("invocation_key", String(KEY)),  # validate's stored invocation (None: it stored none)
    UniqueConstraint("fleet_job_id", "task_index"),
    Index(None, "finished"),
)
