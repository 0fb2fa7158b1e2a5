"""Timestamps, made in one place: ISO 8601 in UTC for records, and the compact UTC form in file names."""

from __future__ import annotations

import datetime


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def now_iso() -> str:
    """'2026-12-01T11:45:00+00:00': when a record, a report or a plan was made."""
    return now().isoformat(timespec="seconds")


def file_stamp() -> str:
    """'20261201T114500Z': the part of a report's, journal's or result folder's name that orders it in time."""
    return now().strftime("%Y%m%dT%H%M%SZ")
