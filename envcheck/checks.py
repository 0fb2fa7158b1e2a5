"""The checks: each turns facts and small experiments into PASS/WARN/FAIL/SKIP rows.

Every check runs, whatever the others found; an unexpected exception inside one
becomes a FAIL row for that check. Checks that need torch are SKIP when torch
cannot be imported (that failure is reported once, by the torch check).
"""

from __future__ import annotations

import dataclasses
import re
import socket
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from types import ModuleType

from envcheck.facts import Facts
from envcheck.nvml import nvml_checks
from envcheck.probes import Probes
from envcheck.records import CheckResult, failed, first_line, passed, skipped, warned

MIN_PYTHON = (3, 10)
DEFAULT_MIN_TORCH = "2.0"
MIN_SHM_BYTES = 256 * 2**20
TORCHVISION_MINOR_OFFSET = 15  # torchvision 0.(N+15) is built for torch 2.N

# Norm-wise relative error ||C - C64|| / ||C64|| of a 256x256x256 matmul (or a
# 16->32 channel 3x3 conv on 32x32 maps) of N(0,1) inputs rounded to the dtype,
# against the float64 CPU result of the unrounded inputs. The expected error is
# about the dtype's unit roundoff (fp32 6e-8, tf32 and fp16 4.9e-4, bf16 3.9e-3);
# the bounds leave a 10x margin for accumulation order.
RELATIVE_ERROR_BOUNDS = {"fp32": 2e-5, "tf32": 5e-3, "fp16": 5e-3, "bf16": 3e-2}


@dataclasses.dataclass(frozen=True)
class CheckOptions:
    min_torch: str = DEFAULT_MIN_TORCH
    require_cuda: bool = False
    quick: bool = False


@dataclasses.dataclass
class CheckContext:
    facts: Facts
    probes: Probes
    options: CheckOptions
    torch: ModuleType | None

    @property
    def devices(self) -> list[str]:
        """cpu, then every CUDA device torch can use."""
        count = self.facts.torch.device_count if self.facts.torch else 0
        return ["cpu"] + [f"cuda:{i}" for i in range(count)]


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[CheckContext], list[CheckResult]]
    slow: bool = False
    needs_torch: bool = True


def parse_version(text: str) -> tuple[int, ...]:
    """'2.14.1+cu130' -> (2, 14, 1); stops at the first non-numeric part."""
    parts = []
    for piece in text.split("+")[0].split("."):
        match = re.match(r"\d+", piece)
        if not match:
            break
        parts.append(int(match.group()))
    return tuple(parts)


def expected_torchvision(torch_version: str) -> str | None:
    """The torchvision minor line built for a torch 2.x release, e.g. '0.29'."""
    version = parse_version(torch_version)
    if len(version) < 2 or version[0] != 2:
        return None
    return f"0.{version[1] + TORCHVISION_MINOR_OFFSET}"


# ---------------------------------------------------------------- install


def check_python(ctx: CheckContext) -> list[CheckResult]:
    version = ctx.facts.python.version
    if sys.version_info[:2] < MIN_PYTHON:
        return [warned("python", f"Python {version} is older than 3.10",
                       "use Python >= 3.10 (torch 2.x drops older Pythons)")]
    return [passed("python", f"{ctx.facts.python.implementation} {version}")]


def check_torch(ctx: CheckContext) -> list[CheckResult]:
    facts = ctx.facts
    if facts.torch is None:
        return [failed("torch", f"torch cannot be imported: {facts.torch_error}",
                       "install it: pip install 'torch>=2.0' (https://pytorch.org/get-started)")]
    version = facts.torch.version
    minimum = ctx.options.min_torch
    if parse_version(version) < parse_version(minimum):
        return [failed("torch", f"torch {version} is older than {minimum}",
                       f"pip install 'torch>={minimum}'")]
    if facts.torch.debug:
        return [warned("torch", f"torch {version} is a debug build: timings are meaningless",
                       "install a release build of torch")]
    build = f"CUDA {facts.torch.cuda_build}" if facts.torch.cuda_build else "CPU-only"
    return [passed("torch", f"torch {version} ({build} build)")]


def check_torchvision(ctx: CheckContext) -> list[CheckResult]:
    facts = ctx.facts
    torch_version = facts.torch.version if facts.torch else "?"
    wanted = expected_torchvision(torch_version)
    fix = (f"install the torchvision built for torch {torch_version}: "
           f"pip install 'torch=={torch_version.split('+')[0]}' 'torchvision=={wanted}.*'")
    if facts.torchvision_error:
        return [failed("torchvision", f"torchvision cannot be imported: {facts.torchvision_error}",
                       fix)]
    version = facts.torchvision_version or "?"
    if wanted and not version.startswith(wanted + "."):
        return [failed("torchvision", f"torchvision {version} is not the one built for "
                       f"torch {torch_version} (expects {wanted}.x)", fix)]
    torch = ctx.torch
    torchvision, error = ctx.probes.try_import("torchvision")
    if error:
        return [failed("torchvision", f"torchvision cannot be imported: {first_line(error)}", fix)]
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    try:
        keep = torchvision.ops.nms(boxes, scores, 0.5).tolist()
    except Exception as nms_error:  # noqa: BLE001 - missing compiled ops raise RuntimeError
        return [failed("torchvision", f"compiled operators fail: {first_line(nms_error)}", fix)]
    if keep != [0, 2]:
        return [failed("torchvision", f"torchvision.ops.nms returned {keep}, expected [0, 2]", fix)]
    return [passed("torchvision", f"torchvision {version}, compiled ops (nms) work")]


# ---------------------------------------------------------------- compile


def check_compile(ctx: CheckContext) -> list[CheckResult]:
    results = []
    for device in ctx.devices:
        results.append(_compile_on(ctx.torch, device))
    return results


def _compile_on(torch, device: str) -> CheckResult:
    name = f"compile {device}"
    fix = ("inductor needs a working C++ compiler on the CPU: install g++ (or set CXX)"
           if device == "cpu" else
           "inductor needs triton on CUDA: install the triton that matches torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4)
    ).to(device)
    x = torch.randn(8, 16, device=device)
    torch._dynamo.reset()
    try:
        start = time.perf_counter()
        compiled = torch.compile(model)
        got = compiled(x)
        seconds = time.perf_counter() - start
    except Exception as error:  # noqa: BLE001 - any compile failure is the finding
        return failed(name, f"torch.compile failed: {first_line(error)}", fix)
    finally:
        torch._dynamo.reset()
    with torch.no_grad():
        want = model(x)
    if not torch.allclose(got.detach(), want, rtol=1e-4, atol=1e-5):
        diff = (got.detach() - want).abs().max().item()
        return failed(name, f"compiled output differs from eager by {diff:.2e}",
                      "report to PyTorch with this torch version; use eager meanwhile")
    return passed(name, f"default backend compiled and matched eager ({seconds:.1f} s cold)")


# ---------------------------------------------------------------- numerics


def relative_error(torch, got, want) -> float:
    want = want.double().cpu()
    return ((got.double().cpu() - want).norm() / want.norm()).item()


def dtype_modes(torch, device: str) -> dict[str, object]:
    """Precision label -> dtype this device is asked to compute in."""
    modes = {"fp32": torch.float32}
    if device.startswith("cuda"):
        major, _ = torch.cuda.get_device_capability(device)
        if major >= 8:
            modes["tf32"] = torch.float32
        if torch.cuda.is_bf16_supported():
            modes["bf16"] = torch.bfloat16
    else:
        modes["bf16"] = torch.bfloat16
    modes["fp16"] = torch.float16
    return modes


class _TF32:
    """Context manager: TF32 on or off for CUDA matmul and cuDNN, restored on exit."""

    def __init__(self, torch, enabled: bool) -> None:
        self.torch, self.enabled = torch, enabled

    def __enter__(self):
        backends = self.torch.backends
        self.saved = (backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32)
        backends.cuda.matmul.allow_tf32 = self.enabled
        backends.cudnn.allow_tf32 = self.enabled

    def __exit__(self, *exc):
        backends = self.torch.backends
        backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32 = self.saved


def _numerics_ops(torch):
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(256, 256, dtype=torch.float64, generator=generator)
    b = torch.randn(256, 256, dtype=torch.float64, generator=generator)
    images = torch.randn(4, 16, 32, 32, dtype=torch.float64, generator=generator)
    kernels = torch.randn(32, 16, 3, 3, dtype=torch.float64, generator=generator)
    conv = torch.nn.functional.conv2d
    return {
        "matmul": ((a, b), torch.matmul),
        "conv2d": ((images, kernels), lambda x, w: conv(x, w, padding=1)),
    }


def check_numerics_sweep(ctx: CheckContext) -> list[CheckResult]:
    torch = ctx.torch
    results = []
    for device in ctx.devices:
        for op_name, (inputs, op) in _numerics_ops(torch).items():
            results.append(_sweep_one(torch, device, op_name, inputs, op))
    return results


def _sweep_one(torch, device, op_name, inputs, op) -> CheckResult:
    name = f"numerics {device} {op_name}"
    want = op(*inputs)
    measured, too_far, unsupported = [], [], []
    for label, dtype in dtype_modes(torch, device).items():
        try:
            with _TF32(torch, label == "tf32"):
                got = op(*(t.to(device=device, dtype=dtype) for t in inputs))
        except (RuntimeError, NotImplementedError) as error:
            unsupported.append(f"{label} ({first_line(error)[:60]})")
            continue
        error = relative_error(torch, got, want)
        bound = RELATIVE_ERROR_BOUNDS[label]
        measured.append(f"{label} {error:.1e}")
        if not error <= bound:  # also catches NaN
            too_far.append(f"{label} {error:.2e} > {bound:.0e}")
    detail = "rel. error vs float64: " + ", ".join(measured)
    if unsupported:
        detail += "; unsupported: " + ", ".join(unsupported)
    if too_far:
        return failed(name, f"{op_name} outside bounds: {'; '.join(too_far)}",
                      "wrong results from this device/library: check driver, cuBLAS/cuDNN versions and GPU health")
    return passed(name, detail)


def check_gradients(ctx: CheckContext) -> list[CheckResult]:
    """Autograd of a small float64 MLP against central finite differences."""
    torch = ctx.torch
    generator = torch.Generator().manual_seed(0)

    def tensor(*shape):
        return torch.randn(*shape, dtype=torch.float64, generator=generator, requires_grad=True)

    def mlp(w1, b1, w2, b2, x):
        return torch.tanh(x @ w1.T + b1) @ w2.T + b2

    inputs = (tensor(8, 4), tensor(8), tensor(3, 8), tensor(3), tensor(5, 4))
    try:
        ok = torch.autograd.gradcheck(mlp, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)
    except RuntimeError as error:
        return [failed("autograd", f"gradients differ from finite differences: {first_line(error)}",
                       "autograd is broken in this build: reinstall torch")]
    if not ok:
        return [failed("autograd", "gradcheck returned False",
                       "autograd is broken in this build: reinstall torch")]
    return [passed("autograd", "MLP gradients match finite differences in float64")]


# ---------------------------------------------------------------- AMP


def amp_modes(ctx: CheckContext, device: str) -> list[str]:
    if device == "cpu":
        return ["bf16"]
    torch = ctx.torch
    return (["bf16"] if torch.cuda.is_bf16_supported() else []) + ["fp16"]


def check_amp(ctx: CheckContext) -> list[CheckResult]:
    return [
        _amp_step(ctx.torch, device, mode)
        for device in ctx.devices
        for mode in amp_modes(ctx, device)
    ]


def _amp_step(torch, device: str, mode: str) -> CheckResult:
    name = f"amp {device} {mode}"
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[mode]
    device_type = device.split(":")[0]
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 14 * 14, 10)
    ).to(device)
    x = torch.randn(16, 1, 16, 16, device=device)
    y = torch.randint(0, 10, (16,), device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler(device_type) if mode == "fp16" else None
    with torch.autocast(device_type=device_type, dtype=dtype):
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
    if logits.dtype != dtype:
        return failed(name, f"autocast produced {logits.dtype}, expected {dtype}",
                      "autocast is not active for this device: check the torch build")
    (scaler.scale(loss) if scaler else loss).backward()
    grads = [p.grad for p in model.parameters()]
    finite = torch.isfinite(loss).item() and all(torch.isfinite(g).all().item() for g in grads)
    if scaler:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    if not finite:
        return failed(name, f"non-finite loss or gradients (loss {loss.item()})",
                      "mixed precision is broken here: check driver and library versions")
    with_scaler = " with GradScaler" if scaler else ""
    return passed(name, f"forward+backward{with_scaler}: loss {loss.item():.3f}, gradients finite")


# ---------------------------------------------------------------- CUDA


def check_cuda(ctx: CheckContext) -> list[CheckResult]:
    facts = ctx.facts
    torch_facts = facts.torch
    nvml_gpus = facts.nvml.device_count or 0
    if not torch_facts.cuda_available:
        return [_cuda_absent(ctx, nvml_gpus)]
    torch = ctx.torch
    results = [_cuda_driver(ctx)]
    for device in ctx.devices[1:]:
        results.append(_cuda_kernel(torch, device))
        results.append(_cuda_bf16(torch, device))
    results.append(_cudnn(torch))
    if torch_facts.device_count > 1:
        results.append(_nccl(torch))
    return results


def _cuda_absent(ctx: CheckContext, nvml_gpus: int) -> CheckResult:
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


def _cuda_driver(ctx: CheckContext) -> CheckResult:
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


def _cuda_kernel(torch, device: str) -> CheckResult:
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


def _cuda_bf16(torch, device: str) -> CheckResult:
    name = f"bf16 {device}"
    major, minor = torch.cuda.get_device_capability(device)
    if major >= 8:
        return passed(name, f"bf16 supported (compute capability {major}.{minor})")
    return warned(name, f"no native bf16 (compute capability {major}.{minor} < 8.0)",
                  "use amp-fp16 on this GPU; amp-bf16 cases will be skipped")


def _cudnn(torch) -> CheckResult:
    cudnn = torch.backends.cudnn
    if not cudnn.is_available():
        return failed("cudnn", "cuDNN is not available",
                      "install a torch build that bundles cuDNN (the default CUDA wheels do)")
    if not cudnn.enabled:
        return warned("cudnn", f"cuDNN {cudnn.version()} is available but disabled",
                      "set torch.backends.cudnn.enabled = True")
    return passed("cudnn", f"cuDNN {cudnn.version()} enabled")


def _nccl(torch) -> CheckResult:
    if not torch.distributed.is_nccl_available():
        return failed("nccl", "several GPUs but NCCL is not available",
                      "install a CUDA build of torch with NCCL (the default Linux wheels have it)")
    version = ".".join(str(v) for v in torch.cuda.nccl.version())
    return passed("nccl", f"NCCL {version} available")


def check_nvml(ctx: CheckContext) -> list[CheckResult]:
    return nvml_checks(ctx.probes.nvml)


# ---------------------------------------------------------------- data + distributed

SHM_FIX = ("give the container more shared memory: docker run --shm-size=8g (or --ipc=host); "
           "on Kubernetes mount an emptyDir with medium: Memory at /dev/shm")


def check_dataloader(ctx: CheckContext) -> list[CheckResult]:
    name = "dataloader workers"
    free = ctx.probes.shm_free_bytes()
    if free is not None and free < MIN_SHM_BYTES:
        return [failed(name, f"/dev/shm has only {free / 2**20:.0f} MiB free "
                       f"(DataLoader workers need >= {MIN_SHM_BYTES // 2**20} MiB)", SHM_FIX)]
    torch = ctx.torch
    data = torch.utils.data
    dataset = data.TensorDataset(torch.arange(512, dtype=torch.float32).reshape(128, 4))
    try:
        loader = data.DataLoader(dataset, batch_size=16, num_workers=2, timeout=60)
        total = sum(batch.sum().item() for (batch,) in loader)
    except Exception as error:  # noqa: BLE001 - worker crashes (bus error) are the finding
        return [failed(name, f"DataLoader with 2 workers failed: {first_line(error)}", SHM_FIX)]
    if total != 511 * 512 / 2:
        return [failed(name, f"workers returned wrong data (sum {total})",
                       "DataLoader workers corrupt data: check shared memory and torch install")]
    shm = f"; /dev/shm {free / 2**30:.1f} GiB free" if free is not None else ""
    return [passed(name, f"2 worker processes delivered every batch{shm}")]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def check_distributed(ctx: CheckContext) -> list[CheckResult]:
    torch = ctx.torch
    dist = torch.distributed
    if not dist.is_available():
        return [failed("distributed gloo", "torch.distributed is not available in this build",
                       "install an official torch wheel (distributed is built in on Linux)")]
    results = []
    try:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}",
                                rank=0, world_size=1, timeout=timedelta(seconds=30))
        tensor = torch.ones(4)
        dist.all_reduce(tensor)
        ok = tensor.tolist() == [1.0] * 4
        dist.destroy_process_group()
    except Exception as error:  # noqa: BLE001
        results.append(failed("distributed gloo", f"gloo group failed: {first_line(error)}",
                              "check that 127.0.0.1 is reachable and no firewall blocks loopback"))
    else:
        results.append(passed("distributed gloo", "one-process gloo group on 127.0.0.1: all_reduce ok")
                       if ok else failed("distributed gloo", f"all_reduce returned {tensor.tolist()}",
                                         "gloo is broken in this build: reinstall torch"))
    if ctx.facts.torch.cuda_available:
        if dist.is_nccl_available():
            results.append(passed("distributed nccl", f"NCCL {ctx.facts.torch.nccl_version} available"))
        else:
            results.append(warned("distributed nccl", "NCCL backend not available",
                                  "multi-GPU runs need NCCL: install an official CUDA torch wheel"))
    return results


CHECKS: tuple[Check, ...] = (
    Check("python", check_python, needs_torch=False),
    Check("torch", check_torch, needs_torch=False),
    Check("torchvision", check_torchvision),
    Check("cuda", check_cuda),
    Check("nvml", check_nvml, needs_torch=False),
    Check("autograd", check_gradients),
    Check("amp", check_amp),
    Check("dataloader", check_dataloader),
    Check("distributed", check_distributed),
    Check("compile", check_compile, slow=True),
    Check("numerics", check_numerics_sweep, slow=True),
)


def run_checks(facts: Facts, probes: Probes, options: CheckOptions,
               checks: tuple[Check, ...] = CHECKS) -> list[CheckResult]:
    """Run every check; never stops at the first failure, never raises."""
    torch = probes.try_import("torch")[0] if facts.torch else None
    ctx = CheckContext(facts=facts, probes=probes, options=options, torch=torch)
    results: list[CheckResult] = []
    for check in checks:
        if check.needs_torch and torch is None:
            results.append(skipped(check.name, "torch is not importable"))
            continue
        if check.slow and options.quick:
            results.append(skipped(check.name, "skipped by --quick"))
            continue
        start = time.perf_counter()
        try:
            rows = check.run(ctx)
        except Exception as error:  # noqa: BLE001 - one broken check must not hide the rest
            rows = [failed(check.name, f"check raised {first_line(error)}",
                           "unexpected: re-run `python -m envcheck` and report the JSON (--json)")]
        elapsed = (time.perf_counter() - start) / max(len(rows), 1)
        results.extend(dataclasses.replace(row, duration_s=round(elapsed, 4)) for row in rows)
    return results
