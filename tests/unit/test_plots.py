"""bench report: Markdown with escaped labels, PNGs, HTML; atomic, and never over a user's file."""

from __future__ import annotations

import pytest

from bench.render.plots import MANIFEST, md, write_report_dir
from envcheck.files import OutputError
from tests.reports import record, report

pytest.importorskip("matplotlib")
QUICK = [0.010, 0.0102, 0.0098]


@pytest.fixture
def reports():
    return [report([record(QUICK), record([s / 2 for s in QUICK], backend="compile")], label="a|b*"),
            report([record([s * 2 for s in QUICK])], label="machine-b")]


def test_writes_markdown_html_and_valid_pngs(reports, tmp_path):
    written = write_report_dir(reports, tmp_path)
    assert {p.name for p in written} == {"summary.md", "index.html", "throughput.png", "speedups.png", "mfu.png"}
    for name in ("throughput.png", "speedups.png", "mfu.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    summary = (tmp_path / "summary.md").read_text()
    assert "a\\|b\\*" in summary  # a label with | or * does not break the table
    assert "machine-b / a\\|b\\* \\[the bounds its verdict used\\]" in summary
    assert "0.50x \\[" in summary and "Intel(R)" in summary
    assert "<img src='throughput.png'" in (tmp_path / "index.html").read_text()
    assert not list(tmp_path.glob(".*.tmp"))
    write_report_dir(reports, tmp_path)  # its own files are replaced


def test_a_users_own_file_is_never_overwritten(reports, tmp_path):
    (tmp_path / "summary.md").write_text("my notes")
    with pytest.raises(OutputError, match="was not written by `bench report`"):
        write_report_dir(reports, tmp_path)
    assert (tmp_path / "summary.md").read_text() == "my notes" and not (tmp_path / MANIFEST).exists()


def test_a_full_disk_leaves_no_partial_file(reports, tmp_path, monkeypatch):
    import errno

    import envcheck.files

    real = envcheck.files.os.fsync
    calls = []

    def full(fd):
        calls.append(fd)
        if len(calls) == 3:  # the second content file
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)

    monkeypatch.setattr(envcheck.files.os, "fsync", full)
    with pytest.raises(OutputError, match="the disk is full"):
        write_report_dir(reports, tmp_path)
    assert not list(tmp_path.glob(".*.tmp"))
    assert all(path.stat().st_size > 0 for path in tmp_path.iterdir())


def test_markdown_escape():
    assert md("a|b") == "a\\|b" and md("x_y*z") == "x\\_y\\*z" and md("line\nbreak") == "line break"
