"""A real Prometheus (Debian's package) for the tests: scraping given targets every second,
optionally evaluating alert rules every second, queried through its HTTP API."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from campaignreports.stack.processes import die_with_parent, free_port, wait_for_port

PROMETHEUS = "/usr/bin/prometheus"


class PrometheusServer:
    def __init__(self, directory: Path, targets: dict[str, str], rules: dict | None = None) -> None:
        """`targets`: job name -> host:port serving /metrics; `rules`: a rule file's content."""
        self._directory = directory
        self._targets = targets
        self._rules = rules
        self._process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> PrometheusServer:
        config: dict = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [address]}]}
                for job, address in self._targets.items()
            ],
        }
        if self._rules is not None:
            (self._directory / "rules.yaml").write_text(yaml.safe_dump(self._rules))
            config["rule_files"] = [str(self._directory / "rules.yaml")]
        (self._directory / "prometheus.yml").write_text(json.dumps(config))
        port = free_port()
        self._process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={self._directory / 'prometheus.yml'}",
                f"--storage.tsdb.path={self._directory / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self._directory / "prometheus.log").open("wb"),
            preexec_fn=die_with_parent,
        )
        wait_for_port(port, 30, self._process)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=30)

    def _get(self, path: str, **parameters: str) -> dict:
        url = f"{self.url}{path}?{urllib.parse.urlencode(parameters)}"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expression: str) -> list[dict]:
        """An instant query's result (one entry per series)."""
        return self._get("/api/v1/query", query=expression)["result"]

    def wait_for(self, expression: str, within: float = 30) -> list[dict]:
        """The query's result once it has a series (AssertionError after `within` seconds)."""
        deadline = time.monotonic() + within
        while not (result := self.query(expression)):
            if time.monotonic() > deadline:
                raise AssertionError(f"no sample of {expression} within {within:g}s")
            time.sleep(0.5)
        return result

    def firing(self) -> set[str]:
        """The names of the alerts firing now, as Prometheus evaluates them."""
        alerts = self._get("/api/v1/alerts")["alerts"]
        return {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}
