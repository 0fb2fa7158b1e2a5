"""Validation tiers (bench/run/tiers.py) and the Kubernetes Indexed Job (bench/run/kubernetes.py)."""

from __future__ import annotations

import pytest
import yaml

from bench import config
from bench.__main__ import main
from bench.run.kubernetes import ManifestError, ManifestRequest, check_against_api, indexed_job, manifest_text
from bench.run.tiers import TIERS, Tier, TierError, tier
from envcheck.checks import CHECKS


def test_tiers_fit_their_budgets_and_name_real_checks():
    assert [t.budget_s for t in TIERS.values()] == [60.0, 120.0, 900.0]
    names = {check.name for check in CHECKS}
    for one in TIERS.values():
        assert one.checks is None or set(one.checks) <= names
        assert one.suite in config.SUITE_DEFS and one.micro  # each tier checks the hardware too (issue 24)
        assert one.number in config.FLEET_TASK_MINUTES
    assert not any(CHECKS[[c.name for c in CHECKS].index(name)].slow for name in TIERS[0].checks)


def test_a_tier_fills_only_what_the_user_left_out():
    filled = TIERS[0].fill({"suite": "quick", "runs": 7, "models": None, "rounds": None})
    assert filled["suite"] == "smoke" and filled["runs"] == 7 and filled["models"] == ("mlp",)
    assert filled["rounds"] == 5
    with pytest.raises(TierError, match="expected one of 0, 1, 2"):
        tier(9)
    with pytest.raises(ValueError, match="empty check list"):
        Tier(5, "x", 10.0, (), "smoke")


def test_validate_refuses_an_unknown_tier(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["validate", "--tier", "9"])
    assert stopped.value.code == 2
    assert "--tier 9: no such tier" in capsys.readouterr().err


def request(**fields):
    return ManifestRequest(**{"fleet_key": "20261201T120000-abcdef", "nodes": 4, "tier": 0,
                              "image": "registry.example/torchrig:1", **fields})


def test_the_indexed_job_passes_the_kubernetes_api_types():
    document = yaml.safe_load(manifest_text(request(node_names=("g1", "g2", "g3", "g4"), gpus=8)))
    spec = document["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 4, 4)
    assert spec["backoffLimitPerIndex"] == 1 and spec["maxFailedIndexes"] == 4
    pod = spec["template"]["spec"]
    anti = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert anti["topologyKey"] == "kubernetes.io/hostname"
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0]["values"] == ["g1", "g2", "g3", "g4"]
    container = pod["containers"][0]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "8"}
    env = {item["name"]: item["valueFrom"] for item in container["env"]}
    assert env["TORCHRIG_DB"] == {"secretKeyRef": {"name": "torchrig-db", "key": "url"}}
    assert "postgresql" not in manifest_text(request())  # the URL lives in the Secret only


def test_a_field_the_api_does_not_know_is_refused():
    document = indexed_job(request())
    document["spec"]["completionsMode"] = "Indexed"  # a typo
    with pytest.raises(ManifestError, match="completionsMode"):
        check_against_api(document)
    document = indexed_job(request())
    del document["spec"]["template"]["spec"]["containers"][0]["name"]  # required by V1Container
    with pytest.raises(ManifestError):
        check_against_api(document)


def test_manifest_requests_are_checked():
    with pytest.raises(ManifestError, match="lists 2 node"):
        request(node_names=("a", "b"))
    with pytest.raises(ManifestError, match="Kubernetes name"):
        request(secret="Bad_Name")


def test_manifest_command_writes_yaml(tmp_path, capsys):
    out = tmp_path / "job.yaml"
    assert main(["fleet", "manifest", "--k8s", "--nodes", "2", "--tier", "1", "--image", "img:1", "--gpus", "0",
                 "--out", str(out)]) == 0
    document = yaml.safe_load(out.read_text())
    assert document["kind"] == "Job" and "resources" not in document["spec"]["template"]["spec"]["containers"][0]
    assert document["spec"]["activeDeadlineSeconds"] == 60 * config.FLEET_TASK_MINUTES[1]
    assert "kubectl apply -f" in capsys.readouterr().out
