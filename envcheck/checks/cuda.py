"""CUDA checks: devices usable by torch, driver vs build, kernels, native precisions, cuDNN, NCCL, SDPA."""

from __future__ import annotations

from envcheck.checks.install import parse_version
from envcheck.checks.registry import CheckContext, register
from envcheck.records import CheckResult, failed, first_line, passed, skipped, warned


@register("cuda")
def check_cuda(ctx: CheckContext) -> list[CheckResult]:
    facts = ctx.facts
    torch_facts = facts.torch
    nvml_gpus = facts.nvml.device_count or 0
    if not torch_facts.cuda_available:
        return [cuda_absent(ctx, nvml_gpus)]
    torch = ctx.torch
    results = [cuda_driver(ctx)]
    for device in ctx.devices[1:]:
        results.append(cuda_kernel(torch, device))
    results.append(cudnn(torch))
    if torch_facts.device_count > 1:
        results.append(nccl(torch))
    return results


def cuda_absent(ctx: CheckContext, nvml_gpus: int) -> CheckResult:
    build = ctx.facts.torch.cuda_build
    if nvml_gpus and not build:
        return failed("cuda", f"NVML sees {nvml_gpus} GPU(s) but torch is a CPU-only build",
                      "install a CUDA build of torch (https://pytorch.org/get-started)")
    if nvml_gpus:
        return failed("cuda", f"NVML sees {nvml_gpus} GPU(s) but torch (CUDA {build}) cannot use them",
                      "the driver may be older than CUDA " + str(build) +
                      ": upgrade the driver or install a torch built for an older CUDA")
    if ctx.options.require_cuda:
        return failed("cuda", "no CUDA device is visible (--require-cuda)",
                      "run on a GPU machine; check CUDA_VISIBLE_DEVICES and `nvidia-smi`")
    return skipped("cuda", "no CUDA device visible")


def cuda_driver(ctx: CheckContext) -> CheckResult:
    facts = ctx.facts
    driver = facts.nvml.driver_cuda_version or facts.torch.driver_cuda_version
    build = parse_version(facts.torch.cuda_build or "")
    if not driver or len(build) < 2:
        return skipped("cuda driver", "driver CUDA version unknown")
    driver_version = (driver // 1000, (driver % 1000) // 10)
    text = f"driver supports CUDA {driver_version[0]}.{driver_version[1]}, torch built for {facts.torch.cuda_build}"
    if driver_version < build[:2]:
        return warned("cuda driver", text + " (relying on minor-version compatibility)",
                      "upgrade the NVIDIA driver to one that supports the CUDA torch was built for")
    return passed("cuda driver", text + (f" (driver {facts.nvml.driver_version})"
                                         if facts.nvml.driver_version else ""))


def cuda_kernel(torch, device: str) -> CheckResult:
    name = f"cuda {device}"
    try:
        block = torch.empty(64 * 2**20, dtype=torch.uint8, device=device)  # 64 MiB
        n = 1 << 20
        total = torch.arange(n, device=device, dtype=torch.float64).sum().item()
        del block
    except Exception as error:  # noqa: BLE001 - any failure here is the finding
        return failed(name, f"cannot allocate or run a kernel: {first_line(error)}",
                      "check `nvidia-smi`, `dmesg` for Xid errors and CUDA_VISIBLE_DEVICES")
    if total != n * (n - 1) / 2:
        return failed(name, f"a reduction returned {total}, expected {n * (n - 1) // 2}",
                      "the GPU computes wrong results: drain the node and run diagnostics (dcgmi diag)")
    return passed(name, f"{torch.cuda.get_device_name(device)}: allocates and runs kernels")


def cudnn(torch) -> CheckResult:
    backend = torch.backends.cudnn
    if not backend.is_available():
        return failed("cudnn", "cuDNN is not available",
                      "install a torch build that bundles cuDNN (the default CUDA wheels do)")
    if not backend.enabled:
        return warned("cudnn", f"cuDNN {backend.version()} is available but disabled",
                      "set torch.backends.cudnn.enabled = True")
    return passed("cudnn", f"cuDNN {backend.version()} enabled")


def nccl(torch) -> CheckResult:
    if not torch.distributed.is_nccl_available():
        return failed("nccl", "several GPUs but NCCL is not available",
                      "install a CUDA build of torch with NCCL (the default Linux wheels have it)")
    version = ".".join(str(v) for v in torch.cuda.nccl.version())
    return passed("nccl", f"NCCL {version} available")


@register("precision", needs_torch=False)
def check_native_precision(ctx: CheckContext) -> list[CheckResult]:
    """Which dtypes each device computes in hardware (docs/measurement.md, rule 12): a fact with consequences."""
    rows = []
    for device in ctx.devices:
        caps = ctx.facts.capabilities(device)
        native = caps.native_summary()
        listed = ", ".join(f"{dtype} {'native' if ok else 'emulated' if device == 'cpu' else 'unsupported'}"
                           for dtype, ok in native.items())
        if device == "cpu":
            bf16 = caps.support("amp-bf16")
            listed = f"fp32 native, {listed}: {bf16.reason}"
            if not bf16.native:
                listed += "; bench skips amp-bf16 cases unless asked for"
        elif device.startswith("cuda") and not native["bf16"]:
            rows.append(warned(f"precision {device}", listed, "use amp-fp16 on this GPU; amp-bf16 and tf32 "
                                                              "cases are skipped"))
            continue
        rows.append(passed(f"precision {device}", listed))
    return rows


@register("sdpa")
def check_sdpa(ctx: CheckContext) -> list[CheckResult]:
    """Scaled-dot-product attention picks a fused kernel (flash or memory-efficient) on each GPU."""
    torch = ctx.torch
    if len(ctx.devices) == 1:
        return [skipped("sdpa", "no CUDA device: the fused attention kernels are CUDA kernels")]
    return [sdpa_kernel_on(torch, device) for device in ctx.devices[1:]]


def sdpa_kernel_on(torch, device: str) -> CheckResult:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    name = f"sdpa {device}"
    q, k, v = (torch.randn(2, 8, 256, 64, device=device, dtype=torch.bfloat16) for _ in range(3))
    reasons = []
    for label, backend in (("flash", SDPBackend.FLASH_ATTENTION), ("memory-efficient", SDPBackend.EFFICIENT_ATTENTION)):
        try:
            with sdpa_kernel([backend]):
                torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            torch.cuda.synchronize(device)
            return passed(name, f"bf16 causal attention runs the {label} kernel")
        except RuntimeError as error:
            reasons.append(f"{label}: {first_line(error)[:120]}")
    return warned(name, "attention falls back to the math kernel (slow, O(n^2) memory): " + "; ".join(reasons),
                  "use a GPU of compute capability >= 8.0 and a torch build with flash attention")
