"""torch.compile: a small model compiled with the default backend on each device matches eager."""

from __future__ import annotations

import time

from envcheck.checks.registry import CheckContext, register
from envcheck.records import CheckResult, failed, first_line, passed


@register("compile", slow=True)
def check_compile(ctx: CheckContext) -> list[CheckResult]:
    return [compile_on(ctx.torch, device) for device in ctx.devices]


def compile_on(torch, device: str) -> CheckResult:
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
