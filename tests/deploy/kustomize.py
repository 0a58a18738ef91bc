"""A small renderer of a kustomization: the kustomize features ``deploy/k8s/`` uses, no more.

There is no kubectl or kustomize binary where the tests run, so this applies, in kustomize's
order, what the kustomization file asks for: ``resources`` (plain files), ``configMapGenerator``
(``literals`` and ``files``) with ``generatorOptions.disableNameSuffixHash``, ``patches``
(inline JSON 6902 patches, each with a ``target`` of kind and name), ``images`` (a new name
and tag for a container image) and ``namespace``. Any other key, patch operation or option is
refused with :class:`UnsupportedFeatureError`, so that a manifest using a feature this
renderer does not apply fails its test instead of being checked half-rendered.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

SUPPORTED_KEYS = frozenset(
    {
        "apiVersion",
        "kind",
        "namespace",
        "resources",
        "images",
        "generatorOptions",
        "configMapGenerator",
        "patches",
    }
)

CLUSTER_SCOPED_KINDS = frozenset({"Namespace", "PersistentVolume", "StorageClass", "ClusterRole"})


class UnsupportedFeatureError(ValueError):
    """The kustomization uses something this renderer does not apply."""


@dataclass(frozen=True)
class Rendered:
    """What ``kubectl apply -k`` would send, and the kustomization it came from."""

    resources: list[Resource]
    kustomization: dict[str, Any]

    def one(self, kind: str, name: str) -> Resource:
        """The resource of ``kind`` named ``name`` (AssertionError if not exactly one)."""
        found = [r for r in self.resources if r["kind"] == kind and r["metadata"]["name"] == name]
        assert len(found) == 1, f"{len(found)} resources {kind}/{name}"
        return found[0]

    def of_kind(self, kind: str) -> list[Resource]:
        return [r for r in self.resources if r["kind"] == kind]


def load_yaml_documents(path: Path) -> list[Resource]:
    """Every non-empty YAML document of ``path``."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def render(directory: Path) -> Rendered:
    """Render ``directory/kustomization.yaml`` as kustomize would (see the module docstring)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - SUPPORTED_KEYS
    if unknown:
        raise UnsupportedFeatureError(f"kustomization keys not applied here: {sorted(unknown)}")
    resources: list[Resource] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        if not path.is_file():
            raise UnsupportedFeatureError(f"{entry}: not a file (bases are not applied here)")
        resources.extend(load_yaml_documents(path))
    resources.extend(_generate(directory, kustomization))
    for patch in kustomization.get("patches", []):
        _apply_patch(resources, patch)
    for image in kustomization.get("images", []):
        _set_image(resources, image)
    namespace = kustomization.get("namespace")
    if namespace is not None:
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED_KINDS:
                resource["metadata"]["namespace"] = namespace
    return Rendered(resources, kustomization)


def _generate(directory: Path, kustomization: dict[str, Any]) -> list[Resource]:
    options = kustomization.get("generatorOptions", {})
    if set(options) - {"disableNameSuffixHash"} or not options.get("disableNameSuffixHash"):
        raise UnsupportedFeatureError(
            "generatorOptions: only disableNameSuffixHash: true is applied here (no hashes)"
        )
    generated = []
    for generator in kustomization.get("configMapGenerator", []):
        if set(generator) - {"name", "literals", "files"}:
            raise UnsupportedFeatureError(f"configMapGenerator keys: {sorted(generator)}")
        data: dict[str, str] = {}
        for literal in generator.get("literals", []):
            key, sep, value = literal.partition("=")
            if not sep:
                raise UnsupportedFeatureError(f"literal without '=': {literal!r}")
            data[key] = value
        for entry in generator.get("files", []):
            if "=" in entry:
                raise UnsupportedFeatureError(f"files entry with a key: {entry!r}")
            data[Path(entry).name] = (directory / entry).read_text()
        generated.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": generator["name"]},
                "data": data,
            }
        )
    return generated


def _apply_patch(resources: list[Resource], patch: dict[str, Any]) -> None:
    if set(patch) != {"target", "patch"} or set(patch["target"]) - {"kind", "name"}:
        raise UnsupportedFeatureError("patches: only inline patches with a kind/name target")
    target = patch["target"]
    matched = [
        r
        for r in resources
        if r["kind"] == target["kind"] and r["metadata"]["name"] == target["name"]
    ]
    if not matched:
        raise UnsupportedFeatureError(f"patch target matches nothing: {target}")
    operations = yaml.safe_load(patch["patch"])
    if not isinstance(operations, list):
        raise UnsupportedFeatureError("patches: only JSON 6902 patches (a list of operations)")
    for resource in matched:
        for operation in operations:
            _apply_operation(resource, operation)


def _apply_operation(resource: Resource, operation: dict[str, Any]) -> None:
    op = operation["op"]
    *parents, last = [
        part.replace("~1", "/").replace("~0", "~") for part in operation["path"].split("/")[1:]
    ]
    node: Any = resource
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if op == "replace":
        if isinstance(node, list):
            node[int(last)] = copy.deepcopy(operation["value"])
        else:
            if last not in node:
                raise KeyError(f"replace of a missing {operation['path']}")
            node[last] = copy.deepcopy(operation["value"])
    elif op == "add":
        if isinstance(node, list):
            index = len(node) if last == "-" else int(last)
            node.insert(index, copy.deepcopy(operation["value"]))
        else:
            node[last] = copy.deepcopy(operation["value"])
    else:
        raise UnsupportedFeatureError(f"patch operation not applied here: {op!r}")


def pod_specs(resource: Resource) -> list[dict[str, Any]]:
    """The pod specs a resource holds: a Pod's own, a Job's or a Deployment's template."""
    if resource["kind"] == "Pod":
        return [resource["spec"]]
    template = resource.get("spec", {}).get("template")
    return [template["spec"]] if template is not None else []


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """A pod spec's init containers, then its containers."""
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def _set_image(resources: list[Resource], image: dict[str, Any]) -> None:
    if set(image) - {"name", "newName", "newTag"}:
        raise UnsupportedFeatureError(f"images keys: {sorted(image)}")
    name = image["name"]
    new = image.get("newName", name) + (f":{image['newTag']}" if "newTag" in image else "")
    for resource in resources:
        for spec in pod_specs(resource):
            for container in containers(spec):
                current = container["image"]
                if current == name or current.startswith(f"{name}:"):
                    container["image"] = new
