"""Command-line plumbing shared by `python -m envcheck` and `python -m bench`."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (no usage dump), exit 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def exit_usage(prog: str, error: BaseException) -> NoReturn:
    from envcheck.text import printable

    print(printable(f"{prog}: error: {error}"), file=sys.stderr)  # a message may quote a file's strings
    raise SystemExit(EXIT_USAGE)
