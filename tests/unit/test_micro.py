"""Micro-benchmarks, torch-free parts: bytes counted as STREAM and nccl-tests count them, figures and units,
names and keys, sizes from the caches, skip reasons, and the datasheet fractions (hand-computed answers)."""

from __future__ import annotations

import dataclasses

import pytest

from bench import config
from bench.gpu_check import micro_targets
from bench.measure.caches import last_level_cache_bytes, parse_cache_size
from bench.measure.rank import bus_bandwidth
from bench.results.cases import Case
from bench.results.datasheets import DATASHEETS, FIGURES, datasheet_for
from bench.results.limits import report_figures
from bench.results.micro import (
    CATALOGUE,
    CorruptionCheck,
    MicroDetail,
    allreduce_bus_bytes,
    bus_factor,
    get_micro,
    parse_micro,
    stream_bytes,
    transfer_sizes,
)
from bench.results.records import CaseRecord, RunRecord, Status, Workload
from bench.results.report import Report, summary
from bench.run.micro import buffer_mib, micro_case, micro_skip
from bench.run.request import InvocationRequest, RequestError
from envcheck.torch_facts import GpuFacts
from tests.reports import ENVIRONMENT, report


def test_stream_counts_two_and_three_arrays_of_eight_bytes():
    assert stream_bytes("copy", 1000) == 16_000  # read a, write c: 2 x 8 B
    assert stream_bytes("triad", 1000) == 24_000  # read b and c, write a: 3 x 8 B
    assert stream_bytes("copy", 1000, element_bytes=4) == 8_000


@pytest.mark.parametrize(("ranks", "factor"), [(1, 0.0), (2, 1.0), (4, 1.5), (8, 1.75)])
def test_busbw_factor_is_2_n_minus_1_over_n(ranks, factor):
    assert bus_factor(ranks) == factor
    assert bus_bandwidth(10.0, ranks) == pytest.approx(10.0 * factor)  # DDP's sweep uses the same definition
    assert allreduce_bus_bytes(16 * 2**20, ranks) == round(16 * 2**20 * factor)


def test_figures_and_units():
    copy = get_micro("mem-copy")
    assert copy.figure(2.5e10) == pytest.approx(25.0) and copy.figure_unit == "GB/s"
    assert get_micro("launch").figure(2e5) == pytest.approx(5.0)  # 200k launches/s: 5 us each
    assert get_micro("sdc-matmul").figure(3.0, tflops=1.5) == 1.5
    assert copy.figure(None) is None
    assert not get_micro("launch").higher_is_better and copy.higher_is_better


def test_transfer_curve_runs_from_1_mib_to_the_size():
    sizes = transfer_sizes(1024)
    assert len(sizes) == 11 and sizes[0] == 2**20 and sizes[-1] == 2**30


def test_names_sizes_and_keys():
    assert parse_micro("mem-copy:64") == ("mem-copy", 64)
    assert parse_micro("launch") == ("launch", None)
    for bad, message in (("launch:5", "takes no size"), ("mem-copy:0", "must be in"), ("mem-copy:x", "whole number"),
                         ("nope", "unknown micro-benchmark")):
        with pytest.raises(ValueError, match=message):
            parse_micro(bad)
    copy = Case("mem-copy", "micro", "eager", "fp32", 64, "cpu")
    assert copy.key == "micro-mem-copy-64MiB-cpu" and copy.group == "micro-mem-copy-cpu"
    assert copy.spec.unit == "bytes"
    assert Case("launch", "micro", "eager", "fp32", 1, "cuda").key == "micro-launch-cuda"
    reduce = Case("allreduce", "micro", "eager", "fp32", 16, "cpu", world_size=2, dist_backend="gloo")
    assert reduce.key == "micro-allreduce-16MiB-cpu-ddp2-gloo"
    assert Case("sdc-matmul", "micro", "eager", "fp32", 10, "cuda").key == "micro-sdc-matmul-10s-cuda"
    with pytest.raises(ValueError, match="micro"):
        Case("cnn", "micro", "eager", "fp32", 1, "cpu")
    with pytest.raises(ValueError, match="micro"):
        Case("mem-copy", "train", "eager", "fp32", 1, "cpu")


def test_request_refuses_bad_micro_names_in_one_line():
    with pytest.raises(RequestError, match="--micro: unknown micro-benchmark 'nope'"):
        InvocationRequest(suite="micro", micro=("nope",))
    with pytest.raises(RequestError, match="--micro is empty"):
        InvocationRequest(suite="micro", micro=())


def test_tiers_name_only_known_micro_benchmarks():
    from bench.run.tiers import TIERS

    assert all(tier.micro for tier in TIERS.values())  # every tier checks the hardware too
    for tier in TIERS.values():
        for name in tier.micro:
            parse_micro(name)
    assert set(config.SUITE_DEFS["micro"].micro) == set(CATALOGUE)


def test_cache_sizes_from_sysfs(tmp_path):
    assert parse_cache_size("491520K") == 480 * 2**20 and parse_cache_size("32M") == 32 * 2**20
    assert parse_cache_size("junk") is None
    for cpu, (l2_shared, l3_shared) in enumerate([("0", "0-1"), ("1", "0-1"), ("2", "2-3"), ("3", "2-3")]):
        for index, (level, size, shared) in enumerate([(2, "2048K", l2_shared), (3, "32M", l3_shared)]):
            folder = tmp_path / f"cpu{cpu}" / "cache" / f"index{index}"
            folder.mkdir(parents=True)
            for name, value in (("level", str(level)), ("type", "Unified"), ("size", size),
                                ("shared_cpu_list", shared)):
                (folder / name).write_text(value + "\n")
    assert last_level_cache_bytes(tmp_path) == 64 * 2**20  # two L3 instances of 32 MiB, each counted once
    assert last_level_cache_bytes(tmp_path / "none") is None


def test_stream_buffers_are_four_times_the_cache_within_memory():
    assert buffer_mib(480 * 2**20, 64 * 2**30) == (2048, None)  # a 480 MiB L3: 4 x 480 = 1920 MiB -> 2048
    assert buffer_mib(2 * 2**20, 24 * 2**30) == (64, None)  # at least 64 MiB
    mib, note = buffer_mib(480 * 2**20, 24 * 2**30)  # this VM: 1/16 of 23 GiB caps it at 1 GiB
    assert mib == 1024 and "capped at 1024 MiB" in note and "below 4x the 480 MiB cache" in note


def test_host_device_and_peer_cases_are_not_applicable_on_a_cpu():
    h2d = micro_case("h2d-pinned", "cpu", ENVIRONMENT)
    assert "not applicable on a CPU" in micro_skip(h2d, ENVIRONMENT)
    assert micro_skip(micro_case("launch", "cpu", ENVIRONMENT), ENVIRONMENT) is None
    reduce = micro_case("allreduce", "cpu", ENVIRONMENT)
    assert reduce.world_size == config.MICRO_CPU_RANKS and reduce.dist_backend == "gloo"
    one_gpu = dataclasses.replace(ENVIRONMENT, facts=dataclasses.replace(
        ENVIRONMENT.facts, gpus=(GpuFacts(0, "NVIDIA H200", (9, 0), 141 * 10**9, 132),)))
    assert "needs 2 GPUs or more; this machine has 1" in micro_skip(micro_case("peer-copy", "cuda", one_gpu), one_gpu)
    assert "this machine has 1" in micro_skip(micro_case("allreduce", "cuda", one_gpu), one_gpu)
    assert micro_case("mem-copy", "cuda", one_gpu).batch_size == 4096


def test_every_sku_of_the_issue_has_every_figure_or_says_none():
    names = {"NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-80GB", "NVIDIA A100-PCIE-40GB", "NVIDIA A100 80GB PCIe",
             "NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe", "NVIDIA H200", "NVIDIA L40S", "NVIDIA B200"}
    assert names <= set(DATASHEETS)
    for sku in DATASHEETS.values():
        assert sku.source and not sku.verified  # nothing here was read from the PDF itself
        for figure in FIGURES:
            value = getattr(sku, figure)
            assert value is None or value > 0
        assert sku.bf16_tflops > sku.tf32_tflops > sku.fp32_tflops  # dense tensor rates above the vector rate
    h200 = datasheet_for("NVIDIA H200")
    assert h200.limit("memory_gbps") == 4800 and h200.limit("pcie_gbps") == 64  # a one-way copy: half of 128
    assert datasheet_for("NVIDIA L40S").limit("nvlink_gbps") is None and datasheet_for(None) is None


def micro_record(model: str, size: int, items_per_step: int, step_s: float, device: str = "cuda",
                 detail: MicroDetail | None = None, flops: int | None = None) -> CaseRecord:
    spec = get_micro(model)
    runs = [RunRecord(i, Status.OK, steps_per_round=10, round_s=[step_s * 10] * 5,
                      workload=Workload(items_per_step, spec.unit, flops_per_step=flops), micro=detail)
            for i in range(3)]
    return CaseRecord.from_runs(Case(model, "micro", "eager", "fp32", size, device), runs)


H200_ENV = dataclasses.replace(ENVIRONMENT, facts=dataclasses.replace(
    ENVIRONMENT.facts, gpus=(GpuFacts(0, "NVIDIA H200", (9, 0), 141 * 10**9, 132),)))


def test_figures_as_fractions_of_the_h200_datasheet():
    copy_bytes = stream_bytes("copy", 4096 * 2**20 // 8)  # 8 GiB a step
    records = [micro_record("mem-copy", 4096, copy_bytes, copy_bytes / 4.3e12),
               micro_record("h2d-pinned", 1024, 2**30, 2**30 / 55e9),
               micro_record("launch", 1, 1, 4e-6)]
    made = report(records, environment=H200_ENV, device="cuda")
    figures = {figure.name: figure for figure in report_figures(made)}
    copy = figures["micro-mem-copy-4096MiB-cuda"]
    assert copy.value == pytest.approx(4300) and copy.of_datasheet == pytest.approx(4300 / 4800)
    assert figures["micro-h2d-pinned-1024MiB-cuda"].of_datasheet == pytest.approx(55 / 64)
    assert figures["micro-launch-cuda"].value == pytest.approx(4.0) and figures["micro-launch-cuda"].datasheet is None
    assert figures["ceiling amp-bf16"].of_datasheet == pytest.approx(2.0 / 989.5)  # the synthetic 2 TFLOP/s ceiling
    written = summary(made, records[0])["micro"]
    assert written["unit"] == "GB/s" and written["of_datasheet"] == pytest.approx(4300 / 4800)
    assert written["sku"] == "NVIDIA H200" and written["datasheet_verified"] is False
    again = Report.from_json(made.to_json())  # the micro detail survives the report's JSON
    assert again.find("micro-mem-copy-4096MiB-cuda").items_per_s == pytest.approx(4.3e12)
    targets = {t.name.split()[0]: t for t in micro_targets(made)}
    assert targets["11"].passed and targets["11"].measured.startswith("4,300.00 GB/s")
    assert targets["12"].passed and targets["13"].passed and targets["14"].passed is None


def test_a_cpu_has_no_datasheet():
    record = micro_record("mem-copy", 64, stream_bytes("copy", 64 * 2**20 // 8), 0.01, device="cpu")
    figure = report_figures(report([record]))[0]
    assert figure.value == pytest.approx(stream_bytes("copy", 64 * 2**20 // 8) / 0.01 / 1e9)
    assert figure.datasheet is None and figure.of_datasheet is None


def test_corruption_findings_name_the_device_and_iteration():
    clean = CorruptionCheck("cuda:1", 8192, 100, 10.0, 0, None, 3e-7, 2e-5, 64)
    assert clean.failure is None
    flipped = dataclasses.replace(clean, mismatches=1, first_mismatch=37)
    assert "cuda:1: iteration 37 differs bitwise" in flipped.failure
    off = dataclasses.replace(clean, reference_error=1e-3)
    assert "1.00e-03 off the float64 CPU reference" in off.failure
    assert MicroDetail(corruption=[clean, flipped]).failure == flipped.failure
    record = micro_record("sdc-matmul", 5, 1, 0.01, detail=MicroDetail(corruption=[clean]), flops=2 * 8192**3)
    targets = {t.name.split()[0]: t for t in micro_targets(report([record], environment=H200_ENV, device="cuda"))}
    assert targets["14"].passed and "0 mismatches" in targets["14"].measured


def test_a_node_page_sets_its_stored_micro_benchmarks_beside_the_datasheet(engine, tmp_path):
    from bench.render.site.publish import publish
    from bench.store import writer

    copy_bytes = stream_bytes("copy", 4096 * 2**20 // 8)
    made = report([micro_record("mem-copy", 4096, copy_bytes, copy_bytes / 4.3e12),
                   micro_record("launch", 1, 1, 4e-6)], environment=H200_ENV, device="cuda")
    writer.store_report(engine, made)
    publish(engine, tmp_path / "site", database="test")
    (page,) = (tmp_path / "site" / "nodes").glob("*.html")
    table = page.read_text().split('<table id="micro">', 1)[1].split("</table>", 1)[0]
    assert "4.300 TB/s" in table and "89.6 % of 4800 (unverified)" in table  # 4.3 of the H200 4.8 TB/s
    assert "4.00 us" in table and "matmul amp-bf16" in table and "of 989.5" in table
