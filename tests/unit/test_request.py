"""Every usage error of a run request is found before torch is imported, all at once."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from bench.config import RequestError
from bench.run.request import InvocationRequest, Launch, parse_setup


def refused(tmp_path, **fields) -> str:
    with pytest.raises(RequestError) as error:
        InvocationRequest(out=tmp_path / "out", **fields).check_disk()
    return str(error.value)


@pytest.mark.parametrize(("fields", "message"), [
    ({"models": ()}, "--models is empty"),
    ({"batch_sizes": ()}, "--batch-sizes is empty"),
    ({"models": ("resnet",)}, "unknown model 'resnet'"),
    ({"batch_sizes": (0,)}, "batch size must be in 1..1048576, got 0"),
    ({"rounds": 2}, "--rounds must be in 5..10000, got 2"),
    ({"runs": 0}, "--runs must be in 1..10000, got 0"),
    ({"case_timeout_s": float("nan")}, "--case-timeout must be a finite number > 0, got nan"),
    ({"case_timeout_s": float("inf")}, "--case-timeout must be a finite number > 0, got inf"),
    ({"min_round_s": -1.0}, "--min-round-s must be a finite number > 0"),
    ({"ceilings": (("fp32", 0.0),)}, "--ceilings expects PRECISION=TFLOPS"),
    ({"launch": Launch(2, rdzv_endpoint="h:99999999")}, "a port in 1..65535"),
    ({"launch": Launch(0, nnodes=2, node_rank=3)}, "--nproc-per-node must be >= 1"),
    ({"data": "mnist"}, "--data mnist needs --data-dir"),
    ({"lora_rank": 0}, "--lora-rank must be in 1..65536, got 0"),
])
def test_bad_fields(tmp_path, fields, message):
    assert message in refused(tmp_path, **fields)


def test_every_error_at_once(tmp_path):
    text = refused(tmp_path, models=("resnet",), precisions=("fp8",), batch_sizes=(0,))
    assert "unknown model" in text and "unknown precision 'fp8'" in text and "batch size must be in 1..1048576" in text


def test_unusable_output_folders(tmp_path, monkeypatch):
    import errno

    import envcheck.files

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RequestError, match="is a file, not a folder"):
        InvocationRequest(out=blocker / "below").check_disk()

    def read_only(*args, **kwargs):  # root writes through permission bits: fake the filesystem's answer
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(envcheck.files.tempfile, "NamedTemporaryFile", read_only)
    with pytest.raises(RequestError, match="--out .* is not writable: the filesystem is read-only"):
        InvocationRequest(out=tmp_path / "out").check_disk()


def test_setups(tmp_path):
    setup = parse_setup("omp1=python,OMP_NUM_THREADS=1,MKL_NUM_THREADS=1")
    assert setup.python == sys.executable and setup.env == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with pytest.raises(RequestError, match="expected LABEL=PYTHON"):
        parse_setup("nolabel")
    assert "is not an executable Python" in refused(tmp_path, setups=(parse_setup("x=/nonexistent/python"),))
    assert "labels must differ" in refused(tmp_path, setups=(parse_setup("a=python"), parse_setup("a=python")))


def test_a_usage_error_does_not_import_torch(tmp_path):
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", "import sys\nfrom bench.__main__ import main\n"
                           "try:\n    main(['run', '--models', '', '--out', sys.argv[1]])\n"
                           "except SystemExit:\n    print('torch' in sys.modules)", str(tmp_path)],
                          capture_output=True, text=True, check=False)
    assert done.stdout.strip() == "False", done.stderr
    assert "--models is empty" in done.stderr
    assert time.perf_counter() - start < 10


def test_a_full_disk_is_found_before_anything_runs(tmp_path, monkeypatch):
    import collections

    import envcheck.files

    monkeypatch.setattr(envcheck.files.shutil, "disk_usage",
                        lambda path: collections.namedtuple("usage", "total used free")(10**9, 10**9, 4096))
    with pytest.raises(RequestError, match="only 4 KiB free on its disk"):
        InvocationRequest(out=tmp_path / "out").check_disk()


def test_a_request_is_checked_without_touching_the_disk_until_asked(tmp_path):
    """A request decoded from someone's journal creates nothing; its disk needs are one explicit step."""
    out = tmp_path / "not-yet"
    request = InvocationRequest(out=out, setups=(parse_setup("x=/nonexistent/python"),))
    assert not out.exists()
    with pytest.raises(RequestError, match="is not an executable Python"):
        request.check_disk()


def test_every_option_of_run_and_validate_reaches_a_field_or_is_named_as_not_one(tmp_path):
    from bench.cli import build_parser

    for argv in (["run", "--out", str(tmp_path)], ["validate", "--out", str(tmp_path)]):
        assert InvocationRequest.from_args(build_parser().parse_args(argv)).out == tmp_path
    args = build_parser().parse_args(["run", "--out", str(tmp_path)])
    args.new_flag = 1  # a flag added to the parser but to neither list
    with pytest.raises(TypeError, match="new_flag"):
        InvocationRequest.from_args(args)
