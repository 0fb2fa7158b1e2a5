"""Install checks: Python, torch, torchvision (version line and build variant), the llm extra."""

from __future__ import annotations

import platform
import re
import sys

from envcheck.checks.registry import CheckContext, register
from envcheck.records import CheckResult, failed, first_line, passed, skipped, warned

MIN_PYTHON = (3, 10)
TORCHVISION_MINOR_OFFSET = 15  # torchvision 0.(N+15) is built for torch 2.N
PYTORCH_INDEX = "https://download.pytorch.org/whl"


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


def torch_variant(cuda_build: str | None) -> str:
    """torch's build variant as PyTorch's wheel index names it: cpu, cu128, cu130, ..."""
    return "cpu" if not cuda_build else "cu" + "".join(cuda_build.split(".")[:2])


def torchvision_variant(version: str, machine: str | None = None) -> str:
    """torchvision's build variant: its version label (cpu, cu130, ...), else PyPI's default for the
    platform: unlabelled Linux x86_64 wheels are CUDA builds ('cuda'), the others CPU builds."""
    _, _, local = version.partition("+")
    if local:
        return local
    return "cuda" if sys.platform == "linux" and (machine or platform.machine()) == "x86_64" else "cpu"


def describe_variant(variant: str) -> str:
    if variant == "cpu":
        return "a CPU build"
    return "a CUDA build (PyPI's default on Linux x86_64)" if variant == "cuda" else f"a CUDA build ({variant})"


def torchvision_fix(torch_version: str, torch_build: str | None, vision_version: str | None) -> str:
    """A pip command that changes something: the torchvision matching torch's version line and variant."""
    wanted = expected_torchvision(torch_version)
    torch_side = torch_variant(torch_build)
    vision_side = torchvision_variant(vision_version) if vision_version else None
    line = f"'torchvision=={wanted}.*'" if wanted else "torchvision"
    if vision_side and vision_side != torch_side and not (torch_side.startswith("cu") and vision_side == "cuda"):
        return (f"torch {torch_version} is {describe_variant(torch_side)} but torchvision {vision_version} is "
                f"{describe_variant(vision_side)}: pip install --force-reinstall --no-deps {line} "
                f"--index-url {PYTORCH_INDEX}/{torch_side}")
    return (f"install the torchvision built for torch {torch_version}: pip install --force-reinstall "
            f"'torch=={torch_version.split('+')[0]}' {line} --index-url {PYTORCH_INDEX}/{torch_side}")


@register("python", needs_torch=False)
def check_python(ctx: CheckContext) -> list[CheckResult]:
    version = ctx.facts.python.version
    if sys.version_info[:2] < MIN_PYTHON:
        return [warned("python", f"Python {version} is older than 3.10",
                       "use Python >= 3.10 (torch 2.x drops older Pythons)")]
    return [passed("python", f"{ctx.facts.python.implementation} {version}")]


@register("torch", needs_torch=False)
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


@register("torchvision")
def check_torchvision(ctx: CheckContext) -> list[CheckResult]:
    facts = ctx.facts
    torch_version = facts.torch.version
    wanted = expected_torchvision(torch_version)
    version = facts.torchvision_version
    fix = torchvision_fix(torch_version, facts.torch.cuda_build, version)
    if facts.torchvision_error:
        return [failed("torchvision", f"torchvision {version or ''} cannot be imported: "
                                      f"{facts.torchvision_error}".replace("  ", " "), fix)]
    if wanted and not (version or "?").startswith(wanted + "."):
        return [failed("torchvision", f"torchvision {version} is not the one built for "
                       f"torch {torch_version} (expects {wanted}.x)", fix)]
    torchvision, error = ctx.probes.try_import("torchvision")
    if error:
        return [failed("torchvision", f"torchvision cannot be imported: {first_line(error)}", fix)]
    torch = ctx.torch
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    try:
        keep = torchvision.ops.nms(boxes, scores, 0.5).tolist()
    except Exception as nms_error:  # noqa: BLE001 - missing compiled ops raise RuntimeError
        return [failed("torchvision", f"compiled operators fail: {first_line(nms_error)}", fix)]
    if keep != [0, 2]:
        return [failed("torchvision", f"torchvision.ops.nms returned {keep}, expected [0, 2]", fix)]
    return [passed("torchvision", f"torchvision {version}, compiled ops (nms) work")]


@register("llm extra", needs_torch=False)
def check_llm_extra(ctx: CheckContext) -> list[CheckResult]:
    packages = ctx.facts.packages
    found = {name: packages.get(name) for name in ("transformers", "peft")}
    missing = [name for name, version in found.items() if version is None]
    if missing:
        return [skipped("llm extra", f"{' and '.join(missing)} not installed: language-model cases are skipped "
                                     "(pip install -e '.[llm]')")]
    return [passed("llm extra", f"transformers {found['transformers']}, peft {found['peft']}")]
