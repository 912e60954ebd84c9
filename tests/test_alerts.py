"""The chart's alerts, as Prometheus runs them: the PrometheusRule rendered by the real helm is
checked by `promtool check rules`, and `promtool test rules` (tests/alerts_test.yaml) proves
each alert fires on a synthetic series of its trouble and stays quiet on a healthy one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from test_helm import helm_template

pytestmark = pytest.mark.timeout(120)

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
UNIT_TESTS = Path(__file__).with_name("alerts_test.yaml")
DOCS = Path(__file__).resolve().parents[1] / "docs" / "operations.md"


def rendered_rules(*arguments: str) -> dict:
    result = helm_template("--set", "metrics.prometheusRule.enabled=true", *arguments)
    assert result.returncode == 0, result.stderr
    rules = [d for d in yaml.safe_load_all(result.stdout) if d and d["kind"] == "PrometheusRule"]
    assert len(rules) == 1
    return rules[0]["spec"]


def promtool(directory: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *arguments], cwd=directory, capture_output=True, text=True, timeout=60)


def test_the_rendered_rules_pass_promtool_check(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rendered_rules()))
    result = promtool(tmp_path, "check", "rules", "rules.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout


def test_each_alert_fires_on_its_trouble_and_stays_quiet_when_healthy(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rendered_rules()))
    shutil.copy(UNIT_TESTS, tmp_path / "alerts_test.yaml")
    result = promtool(tmp_path, "test", "rules", "alerts_test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    tested = {
        test["alertname"]
        for group in yaml.safe_load(UNIT_TESTS.read_text())["tests"]
        for test in group["alert_rule_test"]
    }
    alerts = {rule["alert"] for group in rendered_rules()["groups"] for rule in group["rules"]}
    assert tested == alerts


def test_a_threshold_set_in_the_values_reaches_the_rule(tmp_path: Path) -> None:
    """The unit tests above would fail with another threshold: the values are what runs."""
    (tmp_path / "rules.yaml").write_text(
        yaml.safe_dump(rendered_rules("--set", "metrics.prometheusRule.freshnessSeconds=1000"))
    )
    shutil.copy(UNIT_TESTS, tmp_path / "alerts_test.yaml")
    result = promtool(tmp_path, "test", "rules", "alerts_test.yaml")
    assert result.returncode != 0 and "CampaignReportsStale" in result.stdout + result.stderr


def test_every_alert_has_a_runbook_in_the_docs() -> None:
    text = DOCS.read_text()
    for group in rendered_rules()["groups"]:
        for rule in group["rules"]:
            anchor = rule["annotations"]["runbook"].partition("#")[2]
            assert f"### {rule['alert']}" in text and anchor == rule["alert"].lower(), rule["alert"]
