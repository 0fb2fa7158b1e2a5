"""envcheck: is this PyTorch install healthy? Facts, checks with verdicts and fixes, JSON.

Importing this package does not import torch: a broken torch is a finding, not a crash.
"""

from envcheck.checks import CheckOptions
from envcheck.facts import Facts, collect_facts
from envcheck.probes import Probes
from envcheck.records import SCHEMA_VERSION, CheckResult, Status
from envcheck.report import Environment, EnvReport, build_report, snapshot

__all__ = [
    "SCHEMA_VERSION",
    "CheckOptions",
    "CheckResult",
    "EnvReport",
    "Environment",
    "Facts",
    "Probes",
    "Status",
    "build_report",
    "collect_facts",
    "snapshot",
]
