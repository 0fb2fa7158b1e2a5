"""envcheck's checks, one module per family; each registers its checks in ``registry``.

The import order below is the order of the report.
"""

from envcheck.checks import install, cuda, nvml, amp, runtime, compiler, numerics  # noqa: F401, I001 - registers
from envcheck.checks.registry import CHECKS, Check, CheckContext, CheckOptions, register, run_checks

__all__ = ["CHECKS", "Check", "CheckContext", "CheckOptions", "register", "run_checks"]
