"""`python -m envcheck`: exit 0 when nothing FAILs, 1 when something does, 2 on bad usage."""

from __future__ import annotations

import sys
from pathlib import Path

from envcheck.checks import DEFAULT_MIN_TORCH, CheckOptions, parse_version
from envcheck.cli import EXIT_FAIL, EXIT_OK, OneLineParser, UsageError, exit_usage
from envcheck.jsonio import write_json_atomic
from envcheck.records import Status
from envcheck.render import render
from envcheck.report import build_report


def parse_args(argv: list[str] | None):
    parser = OneLineParser(prog="envcheck", description="Is this PyTorch install healthy?")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the report as JSON")
    parser.add_argument("--quick", action="store_true", help="skip the slow checks (compile, numerics sweeps)")
    parser.add_argument("--require-cuda", action="store_true", help="FAIL when no CUDA device is usable")
    parser.add_argument("--min-torch", default=DEFAULT_MIN_TORCH, metavar="VERSION",
                        help=f"oldest acceptable torch (default {DEFAULT_MIN_TORCH})")
    args = parser.parse_args(argv)
    if len(parse_version(args.min_torch)) < 2:
        raise UsageError(f"--min-torch expects a version like 2.1, got {args.min_torch!r}")
    if args.json is not None and args.json.is_dir():
        raise UsageError(f"--json expects a file path, got the directory {args.json}")
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except UsageError as error:
        exit_usage("envcheck", error)
    options = CheckOptions(min_torch=args.min_torch, require_cuda=args.require_cuda,
                           quick=args.quick)
    report = build_report(options)
    render(report)
    if args.json is not None:
        try:
            write_json_atomic(args.json, report.as_dict())
        except OSError as error:
            exit_usage("envcheck", UsageError(f"cannot write {args.json}: {error.strerror}"))
        print(f"envcheck: wrote {args.json}")
    return EXIT_FAIL if report.verdict is Status.FAIL else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
