"""Fan-out on Kubernetes: `bench fleet manifest --k8s` writes an Indexed Job, one pod per node, each running
`bench fleet task` (validate, then the results database named by a Secret).

``completionMode: Indexed`` gives each pod its index (JOB_COMPLETION_INDEX), ``backoffLimitPerIndex`` retries a
failed index alone (Kubernetes >= 1.29) and ``maxFailedIndexes`` lets every index fail without failing the
others, required pod anti-affinity on ``kubernetes.io/hostname`` puts at most one pod on a node (and a node list,
when given, becomes a required node affinity), the GPUs are requested as ``nvidia.com/gpu`` resources, and the
database URL comes from a Secret (``TORCHRIG_DB``), never from the manifest. The manifest is checked against the
Kubernetes API types of the ``kubernetes`` Python client: deserialised into ``V1Job`` (required fields, types)
and serialised back, which must give the same document (a misspelled or unknown field is dropped on the way, and
so is refused here). No cluster is needed for either.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


class ManifestError(ValueError):
    """A manifest that the Kubernetes API types refuse, or a request that cannot make one."""


@dataclasses.dataclass(frozen=True)
class ManifestRequest:
    fleet_key: str
    nodes: int
    tier: int
    image: str
    node_names: tuple[str, ...] = ()  # pin to these nodes (else any node, one pod each)
    gpus: int = 1  # nvidia.com/gpu per pod (0: CPU nodes)
    secret: str = "torchrig-db"  # a Secret with key ``url``: the results database
    namespace: str | None = None
    backoff_limit_per_index: int = 1
    active_deadline_s: int | None = None
    validate_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        errors = []
        if self.nodes < 1:
            errors.append(f"--nodes must be at least 1, got {self.nodes}")
        if self.node_names and len(self.node_names) != self.nodes:
            errors.append(f"--node-names lists {len(self.node_names)} node(s) for --nodes {self.nodes}")
        if self.gpus < 0:
            errors.append(f"--gpus must be >= 0, got {self.gpus}")
        if not NAME.fullmatch(self.secret):
            errors.append(f"--secret {self.secret!r} is not a Kubernetes name (lower case, digits, '-')")
        if not self.image.strip():
            errors.append("--image is empty; expected a container image with torchrig installed")
        if errors:
            raise ManifestError("; ".join(errors))

    @property
    def job_name(self) -> str:
        return f"torchrig-fleet-{self.fleet_key}".lower()[:63].rstrip("-")


def indexed_job(request: ManifestRequest) -> dict[str, Any]:
    """The Indexed Job as a plain document (camelCase, as kubectl takes it)."""
    labels = {"app.kubernetes.io/name": "torchrig-fleet", "torchrig/fleet": request.job_name}
    command = ["python", "-m", "bench", "fleet", "task", "--fleet", request.fleet_key, "--tier", str(request.tier),
               "--out", "/results"]
    if request.validate_args:
        command += ["--", *request.validate_args]
    container: dict[str, Any] = {
        "name": "validate",
        "image": request.image,
        "command": command,
        "env": [{"name": "TORCHRIG_DB", "valueFrom": {"secretKeyRef": {"name": request.secret, "key": "url"}}},
                {"name": "TORCHRIG_NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        "volumeMounts": [{"name": "results", "mountPath": "/results"}],
    }
    if request.gpus:
        gpus = {"nvidia.com/gpu": str(request.gpus)}
        container["resources"] = {"requests": dict(gpus), "limits": dict(gpus)}
    affinity: dict[str, Any] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"torchrig/fleet": request.job_name}},
         "topologyKey": "kubernetes.io/hostname"}]}}
    if request.node_names:
        affinity["nodeAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In",
                                   "values": list(request.node_names)}]}]}}
    spec: dict[str, Any] = {
        "completionMode": "Indexed",
        "completions": request.nodes,
        "parallelism": request.nodes,
        "backoffLimitPerIndex": request.backoff_limit_per_index,
        "maxFailedIndexes": request.nodes,
        "template": {
            "metadata": {"labels": labels},
            "spec": {"restartPolicy": "Never", "affinity": affinity, "containers": [container],
                     "volumes": [{"name": "results", "emptyDir": {}}]},
        },
    }
    if request.active_deadline_s:
        spec["activeDeadlineSeconds"] = request.active_deadline_s
    metadata: dict[str, Any] = {"name": request.job_name, "labels": labels}
    if request.namespace:
        metadata["namespace"] = request.namespace
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": spec}


def check_against_api(document: dict[str, Any]) -> None:
    """ManifestError unless the document deserialises into the client's V1Job and serialises back to itself."""
    try:
        from kubernetes.client import ApiClient
    except ModuleNotFoundError:
        raise ManifestError("checking a manifest needs the kubernetes client: pip install 'torchrig[dev]' "
                            "(or pip install kubernetes)") from None
    client = ApiClient()
    try:  # the client's own model deserialiser (what it uses on an API server's answers), without a server
        job = client._ApiClient__deserialize(document, "V1Job")
    except (ValueError, TypeError, AttributeError) as error:
        raise ManifestError(f"not a valid batch/v1 Job: {error}") from None
    back = client.sanitize_for_serialization(job)
    lost = differences(document, back)
    if lost:
        raise ManifestError(f"fields the Kubernetes API types do not know: {', '.join(lost[:5])}")


def differences(want: Any, got: Any, path: str = "$") -> list[str]:
    """Paths present in ``want`` that ``got`` lacks or holds otherwise."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [path]
        return [p for key, value in want.items() for p in differences(value, got.get(key), f"{path}.{key}")]
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [path]
        return [p for i, (a, b) in enumerate(zip(want, got, strict=True)) for p in differences(a, b, f"{path}[{i}]")]
    return [] if want == got else [path]


def manifest_text(request: ManifestRequest) -> str:
    """The checked manifest as YAML (what `kubectl apply -f` takes)."""
    import yaml

    document = indexed_job(request)
    check_against_api(document)
    return yaml.safe_dump(document, sort_keys=False)
