"""Fixtures the unit tests of the results database share: a fresh SQLite file per test."""

from __future__ import annotations

import pytest


@pytest.fixture
def url(tmp_path):
    from bench.store import database

    return database.resolve_url(str(tmp_path / "results.db"))


@pytest.fixture
def engine(url):
    from bench.store import database

    engine = database.open_engine(url)
    yield engine
    engine.dispose()
