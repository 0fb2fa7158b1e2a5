"""JUnit XML, so that CI systems show each verdict natively (pytest --junitxml's conventions).

One <testcase> per check or benchmark case: a FAIL is a <failure> with its reason and
fix, a SKIP a <skipped>, a WARN passes with the warning in <system-out>.
"""

from __future__ import annotations

import dataclasses
import datetime
import socket
import xml.etree.ElementTree as ET
from pathlib import Path

from envcheck.files import OutputError, check_output_file, describe, write_atomic
from envcheck.text import printable


@dataclasses.dataclass(frozen=True)
class TestCase:
    classname: str
    name: str
    outcome: str  # passed, failure, skipped
    message: str = ""
    text: str = ""  # failure body, or the warning printed to system-out of a pass
    seconds: float = 0.0


def junit_xml(tool: str, suites: dict[str, list[TestCase]]) -> bytes:
    """<testsuites name=tool> with one <testsuite> per entry of ``suites``. Every string passes through
    ``printable``: XML 1.0 cannot hold most control characters, and a name or message may be foreign."""
    suites = {printable(name): [dataclasses.replace(case, classname=printable(case.classname),
                                                    name=printable(case.name), message=printable(case.message),
                                                    text=printable(case.text)) for case in cases]
              for name, cases in suites.items()}
    root = ET.Element("testsuites", name=printable(tool))
    for suite_name, cases in suites.items():
        suite = ET.SubElement(root, "testsuite", {
            "name": suite_name, "tests": str(len(cases)), "errors": "0",
            "failures": str(sum(c.outcome == "failure" for c in cases)),
            "skipped": str(sum(c.outcome == "skipped" for c in cases)),
            "time": f"{sum(c.seconds for c in cases):.3f}", "hostname": socket.gethostname(),
            "timestamp": datetime.datetime.now().isoformat(timespec="seconds")})
        for case in cases:
            element = ET.SubElement(suite, "testcase", classname=case.classname, name=case.name,
                                    time=f"{case.seconds:.3f}")
            if case.outcome in ("failure", "skipped"):
                child = ET.SubElement(element, case.outcome, message=case.message)
                child.text = case.text or None
            elif case.text:
                ET.SubElement(element, "system-out").text = case.text
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def is_own(path: Path, tool: str) -> bool:
    try:
        return ET.parse(path).getroot().get("name") == tool
    except (OSError, ET.ParseError):
        return False


def write_junit(path: Path, tool: str, suites: dict[str, list[TestCase]]) -> Path:
    """Write atomically; an existing file is replaced only if it is this tool's JUnit XML."""
    check_junit_path(path, tool)
    try:
        return write_atomic(path, junit_xml(tool, suites))
    except OSError as error:
        raise OutputError(f"cannot write {path}: {describe(error)}") from None


def check_junit_path(path: Path, tool: str) -> Path:
    return check_output_file(path, lambda existing: is_own(existing, tool), f"{tool}'s JUnit XML")
