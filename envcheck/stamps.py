"""Timestamps, made in one place: ISO 8601 in UTC for records, and the compact UTC form in file names."""

from __future__ import annotations

import datetime


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def now_iso() -> str:
    """'2026-12-01T11:45:00+00:00': when a record, a report or a plan was made."""
    return now().isoformat(timespec="seconds")


def parse_utc(stamp: str) -> datetime.datetime | None:
    """An ISO 8601 time (one without a zone read as UTC), or None if it does not parse."""
    try:
        moment = datetime.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.timezone.utc)


def file_stamp() -> str:
    """'20261201T114500Z': the part of a report's, journal's or result folder's name that orders it in time."""
    return now().strftime("%Y%m%dT%H%M%SZ")
