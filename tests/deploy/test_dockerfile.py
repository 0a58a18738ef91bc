"""The project's Dockerfile, read: no Docker engine runs where the tests do, so what can be
checked without building is checked here. What it copies exists and is in the build context;
it installs the project the way CI does; ``docker run IMAGE`` runs the quickstart; the pieces
``deploy/k8s/`` relies on (the entrypoint, the user, the broker config) are where the
manifests expect them."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

from simulator.cli import build_parser
from simulator.scenario.loader import load_scenario
from tests.quickstart import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, rest) of each Dockerfile instruction, continuations joined.

    As Docker reads it: comment lines go first, even inside a continued instruction."""
    lines = [
        line for line in DOCKERFILE.read_text().splitlines() if not line.strip().startswith("#")
    ]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in text.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), " ".join(rest.split())))
    return found


def all_of(keyword: str) -> list[str]:
    return [rest for kw, rest in instructions() if kw == keyword]


def exec_form(keyword: str) -> list[str]:
    [rest] = all_of(keyword)
    words = json.loads(rest)
    assert isinstance(words, list)
    return [str(w) for w in words]


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` (relative) out of the build context."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(
        fnmatch.fnmatch(prefix, pattern.removeprefix("**/"))
        or fnmatch.fnmatch(Path(prefix).name, pattern.removeprefix("**/"))
        for pattern in patterns
        for prefix in prefixes
    )


def test_every_copied_source_exists_and_is_in_the_build_context() -> None:
    copies = all_of("COPY")
    assert copies
    for rest in copies:
        *sources, _destination = shlex.split(rest)
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not ignored(source.rstrip("/")), f"{source} is in .dockerignore"
    # The checks above do see an ignored path.
    assert ignored(".venv")
    assert ignored("simulator/__pycache__/cli.cpython-311.pyc")


def test_it_installs_the_project_as_ci_does() -> None:
    pip = [rest for rest in all_of("RUN") if "pip install" in rest]
    assert len(pip) == 1
    words = shlex.split(pip[0])
    install = words[words.index("install") + 1 : words.index("&&")]
    # The package from pyproject.toml, without extras: what scripts/setup installs (editable,
    # with the test extras on top) before CI runs the tests.
    assert install == ["--no-cache-dir", "."]
    setup = (ROOT / "scripts" / "setup").read_text()
    assert 'pip install -q -e ".[$extras]"' in setup
    assert "pip install -q -e ." in setup


def test_its_python_is_one_the_project_supports() -> None:
    [base] = [rest for kw, rest in instructions() if kw == "FROM"]
    match = re.match(r"python:(\d+)\.(\d+)", base)
    assert match, base
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = tuple(int(n) for n in re.findall(r"\d+", requires)[:2])
    assert (int(match.group(1)), int(match.group(2))) >= minimum


def test_its_mosquitto_is_the_series_the_tests_run() -> None:
    [apt] = [rest for rest in all_of("RUN") if "apt-get install" in rest]
    pinned = re.search(r'"mosquitto=(\d+)\.(\d+)\.\*"', apt)
    assert pinned, apt
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    assert Path(mosquitto).exists(), "no Mosquitto here: scripts/setup installs it"
    version = subprocess.run(
        [mosquitto, "-h"], capture_output=True, text=True, timeout=10, check=False
    ).stdout
    found = re.search(r"mosquitto version (\d+)\.(\d+)", version)
    assert found, version
    assert found.groups() == pinned.groups()


def test_docker_run_runs_the_quickstart() -> None:
    entrypoint, command = exec_form("ENTRYPOINT"), exec_form("CMD")
    assert entrypoint == ["factory-sim"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["factory-sim"] == "simulator.cli:main"
    args = build_parser().parse_args(command)
    assert args.command == "run"
    # Relative to the WORKDIR, where the scenarios are copied.
    [workdir] = all_of("WORKDIR")
    assert "scenarios/ scenarios/" in all_of("COPY")
    assert workdir == "/app"
    scenario = load_scenario(ROOT / args.scenario)
    assert scenario.name == "quickstart"
    # No broker given: the image's own Mosquitto, from the config it points the launcher at.
    assert scenario.broker.url is None
    assert "FACTORY_SIM_BROKER_CONFIG=/app/broker_config" in " ".join(all_of("ENV"))
    assert "broker_config/ broker_config/" in all_of("COPY")


def test_it_runs_as_the_numeric_user_the_manifests_name() -> None:
    [user] = all_of("USER")
    assert user == "10001:10001"
    manifests = " ".join(p.read_text() for p in (ROOT / "deploy" / "k8s").rglob("*.yaml"))
    assert "runAsUser: 10001" in manifests
    assert not re.search(r"runAsUser: (?!10001\b)", manifests)
