"""Numerics: autograd against finite differences, and matmul/conv2d per dtype against float64."""

from __future__ import annotations

from envcheck.capabilities import PRECISIONS, tf32, torch_dtype
from envcheck.checks.registry import CheckContext, register
from envcheck.records import CheckResult, failed, first_line, passed

# Norm-wise relative error ||C - C64|| / ||C64|| of a 256x256x256 matmul (or a
# 16->32 channel 3x3 conv on 32x32 maps) of N(0,1) inputs rounded to the dtype,
# against the float64 CPU result of the unrounded inputs. The expected error is
# about the dtype's unit roundoff (fp32 6e-8, tf32 and fp16 4.9e-4, bf16 3.9e-3);
# the bounds leave a 10x margin for accumulation order.
RELATIVE_ERROR_BOUNDS = {"fp32": 2e-5, "tf32": 5e-3, "fp16": 5e-3, "bf16": 3e-2}
AUTOGRAD_FIX = "autograd is broken in this build: reinstall torch"


@register("autograd")
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
        return [failed("autograd", f"gradients differ from finite differences: {first_line(error)}", AUTOGRAD_FIX)]
    if not ok:
        return [failed("autograd", "gradcheck returned False", AUTOGRAD_FIX)]
    return [passed("autograd", "MLP gradients match finite differences in float64")]


def relative_error(torch, got, want) -> float:
    want = want.double().cpu()
    return ((got.double().cpu() - want).norm() / want.norm()).item()


def sweep_precisions(ctx: CheckContext, device: str) -> dict[str, object]:
    """dtype label -> torch dtype to compute in on ``device``: fp32, fp16, and tf32/bf16 where supported."""
    caps = ctx.facts.capabilities(device)
    chosen = {"fp32": "fp32", "tf32": "tf32", "bf16": "amp-bf16"}
    labels = {label: precision for label, precision in chosen.items() if caps.support(precision).runs}
    labels["fp16"] = "amp-fp16"  # fp16 arithmetic works everywhere, even where autocast to it does not
    return labels


def numerics_ops(torch):
    """Float64 inputs and the op for each numerics case: name -> (inputs, op)."""
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


@register("numerics", slow=True)
def check_numerics_sweep(ctx: CheckContext) -> list[CheckResult]:
    torch = ctx.torch
    return [sweep_one(torch, device, op_name, inputs, op, sweep_precisions(ctx, device))
            for device in ctx.devices for op_name, (inputs, op) in numerics_ops(torch).items()]


def sweep_one(torch, device: str, op_name: str, inputs, op, precisions: dict[str, str]) -> CheckResult:
    """``op`` in each precision against its float64 result; FAIL outside the bounds."""
    name = f"numerics {device} {op_name}"
    want = op(*inputs)
    measured, too_far, unsupported = [], [], []
    for label, precision in precisions.items():
        dtype = torch_dtype(torch, precision)
        try:
            with tf32(PRECISIONS[precision].tf32):
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
