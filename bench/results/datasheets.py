"""Known GPUs' datasheet figures, keyed by NVML's product name (nvmlDeviceGetName, which torch's
get_device_name also returns), so that a micro-benchmark or a matmul ceiling reads as a fraction of the limit.
CPUs have no table: they are judged against their fleet and their own history (bench/store/yardsticks.py).

Every tensor-core rate here is DENSE (NVIDIA's datasheets print the 2:4-sparse rate, twice the dense one,
with an asterisk); bandwidths are as printed: memory in GB/s, PCIe and NVLink as the datasheet's
bidirectional total per GPU (PCIe Gen5 x16 "128 GB/s", NVLink 4 "900 GB/s"), so that a one-way copy is
judged against half of it (``one_way``).

Sources, and how far each was checked. No NVIDIA PDF could be opened from here (no internet), so no figure
is marked verified against its datasheet; each is what the named datasheet prints as recalled, cross-checked
against third-party copies of those tables found with this session's search tool (cited per entry), and
``verified`` stays False until someone reads the PDF:
- A100: "NVIDIA A100 Tensor Core GPU" datasheet, nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf
  (cross-checked: glennklockwood.com/garden/processors/A100, thundercompute.com A100 specs guide).
- H100 SXM / PCIe: "NVIDIA H100 Tensor Core GPU" datasheet (h100-datasheet, 2023) and the H100 PCIe product brief
  PB-11133-001 (cross-checked: glennklockwood.com/garden/processors/h100, manuals.plus PB-11133-001 copy).
- H200: "NVIDIA H200 Tensor Core GPU" datasheet (2024) (cross-checked: lzwjava.github.io H200 table,
  saulelectric.com H200 page).
- L40S: "NVIDIA L40S" datasheet (2023) (cross-checked: mullet.se and itcreations.com copies of its table).
- B200: "NVIDIA HGX B200" / DGX B200 datasheets give 8-GPU totals; the per-GPU figures below are those over 8 and
  disagree between copies (HGX at 1,000 W vs GB200 at 1,200 W): all B200 figures are marked unverified.
"""

from __future__ import annotations

import dataclasses

FIGURES = ("memory_gbps", "pcie_gbps", "nvlink_gbps", "fp32_tflops", "tf32_tflops", "bf16_tflops", "fp16_tflops",
           "fp8_tflops")
# the matmul ceilings bench measures (config.PRECISIONS) -> the datasheet figure they are judged against
CEILING_FIGURES = {"fp32": "fp32_tflops", "tf32": "tf32_tflops", "amp-bf16": "bf16_tflops",
                   "amp-fp16": "fp16_tflops"}
ONE_WAY = {"pcie_gbps", "nvlink_gbps"}  # printed as a bidirectional total: a one-way copy gets half


@dataclasses.dataclass(frozen=True)
class Sku:
    """One GPU's datasheet. None: the datasheet has no such figure (no NVLink on an L40S, no fp8 on an A100)."""

    name: str  # NVML's product name
    memory_gbps: float
    pcie_generation: int
    pcie_width: int
    pcie_gbps: float  # bidirectional total, as printed
    nvlink_gbps: float | None  # bidirectional total per GPU, as printed
    fp32_tflops: float  # non-tensor FP32
    tf32_tflops: float
    bf16_tflops: float
    fp16_tflops: float
    fp8_tflops: float | None
    source: str
    verified: bool = False  # checked against the datasheet PDF itself
    note: str = ""

    def limit(self, figure: str) -> float | None:
        """The datasheet's figure as a one-way measurement should be judged (a link's half), or None."""
        value = getattr(self, figure)
        if value is None:
            return None
        return value / 2 if figure in ONE_WAY else value


A100_SOURCE = "NVIDIA A100 Tensor Core GPU datasheet (nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf)"
H100_SOURCE = "NVIDIA H100 Tensor Core GPU datasheet (2023); H100 PCIe product brief PB-11133-001"
DATASHEETS: dict[str, Sku] = {sku.name: sku for sku in (
    # A100: HBM2 1,555 GB/s (40GB), HBM2e 2,039 (SXM 80GB) / 1,935 (PCIe 80GB); FP32 19.5; TF32 156 (312 sparse);
    # BF16/FP16 312 (624 sparse); no FP8; NVLink 600 GB/s (PCIe: with the 2-GPU bridge); PCIe Gen4 64 GB/s.
    Sku("NVIDIA A100-SXM4-40GB", 1555, 4, 16, 64, 600, 19.5, 156, 312, 312, None, A100_SOURCE),
    Sku("NVIDIA A100-SXM4-80GB", 2039, 4, 16, 64, 600, 19.5, 156, 312, 312, None, A100_SOURCE),
    Sku("NVIDIA A100-PCIE-40GB", 1555, 4, 16, 64, 600, 19.5, 156, 312, 312, None, A100_SOURCE,
        note="NVLink through the 2-GPU bridge only"),
    Sku("NVIDIA A100 80GB PCIe", 1935, 4, 16, 64, 600, 19.5, 156, 312, 312, None, A100_SOURCE,
        note="NVLink through the 2-GPU bridge only"),
    # H100 SXM5: HBM3 3.35 TB/s; FP32 67; TF32 494.5 (989 sparse); BF16/FP16 989.5 (1,979 sparse); FP8 1,979
    # (3,958 sparse); NVLink 900 GB/s; PCIe Gen5 128 GB/s.
    Sku("NVIDIA H100 80GB HBM3", 3350, 5, 16, 128, 900, 67, 494.5, 989.5, 989.5, 1979, H100_SOURCE),
    # H100 PCIe: HBM2e 2 TB/s; FP32 51; TF32 378 (756 sparse); BF16/FP16 756.5 (1,513 sparse); FP8 1,513 (3,026
    # sparse); NVLink bridge 600 GB/s; PCIe Gen5 128 GB/s.
    Sku("NVIDIA H100 PCIe", 2000, 5, 16, 128, 600, 51, 378, 756.5, 756.5, 1513, H100_SOURCE,
        note="NVLink through the bridge only"),
    # H200 SXM: HBM3e 4.8 TB/s; compute as H100 SXM; NVLink 900 GB/s; PCIe Gen5 128 GB/s.
    Sku("NVIDIA H200", 4800, 5, 16, 128, 900, 67, 494.5, 989.5, 989.5, 1979,
        "NVIDIA H200 Tensor Core GPU datasheet (2024), H200 SXM column"),
    # L40S: GDDR6 864 GB/s; FP32 91.6; TF32 183 (366 sparse); BF16/FP16 362.05 (733 sparse); FP8 733 (1,466
    # sparse); PCIe Gen4 x16 64 GB/s bidirectional; no NVLink.
    Sku("NVIDIA L40S", 864, 4, 16, 64, None, 91.6, 183, 362.05, 362.05, 733, "NVIDIA L40S datasheet (2023)"),
    # B200 (HGX, 1,000 W): HBM3e 8 TB/s; FP32 80?; TF32 1,100 (2,200 sparse)?; BF16/FP16 2,250 (4,500 sparse)?;
    # FP8 4,500 (9,000 sparse)?; NVLink 5 1.8 TB/s; PCIe Gen5 x16 128 GB/s? Copies disagree: unverified.
    Sku("NVIDIA B200", 8000, 5, 16, 128, 1800, 80, 1100, 2250, 2250, 4500,
        "NVIDIA HGX B200 / DGX B200 datasheets (8-GPU totals over 8)",
        note="unverified: third-party copies disagree (HGX 1,000 W vs GB200 1,200 W figures)"),
)}


def datasheet_for(product_name: str | None) -> Sku | None:
    """The SKU NVML names ``product_name``, or None (an unknown GPU, or a CPU)."""
    return DATASHEETS.get(product_name or "")
