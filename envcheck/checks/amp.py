"""Mixed precision: a forward and backward step under autocast (bf16, and fp16 with GradScaler on CUDA)."""

from __future__ import annotations

from envcheck.capabilities import torch_dtype
from envcheck.checks.registry import CheckContext, register
from envcheck.records import CheckResult, failed, passed


def amp_precisions(ctx: CheckContext, device: str) -> list[str]:
    """The autocast precisions ``device`` runs (the CPU autocasts to bf16 only)."""
    caps = ctx.facts.capabilities(device)
    return [p for p in ("amp-bf16", "amp-fp16") if caps.support(p).runs]


@register("amp")
def check_amp(ctx: CheckContext) -> list[CheckResult]:
    return [amp_step(ctx.torch, device, precision)
            for device in ctx.devices for precision in amp_precisions(ctx, device)]


def amp_step(torch, device: str, precision: str) -> CheckResult:
    short = precision.removeprefix("amp-")
    name = f"amp {device} {short}"
    dtype = torch_dtype(torch, precision)
    device_type = device.split(":")[0]
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 14 * 14, 10)
    ).to(device)
    x = torch.randn(16, 1, 16, 16, device=device)
    y = torch.randint(0, 10, (16,), device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler(device_type) if short == "fp16" else None
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
