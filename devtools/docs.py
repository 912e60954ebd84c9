"""`make docs`: regenerate the documents derived from code.

- README.md's configuration table, from every service's settings declarations;
- docs/validation.md, from the validation tables;
- docs/metrics.md, from the metric table and its definitions;
- docs/error-types.md, from the error-type mapping;
- deploy/grafana/campaign-reports.json, the Grafana dashboard (see `grafana`).

Tests fail while either is out of date.
"""

from __future__ import annotations

from pathlib import Path

from campaignreports.aggregator.settings import AggregatorSettings
from campaignreports.ingest.settings import IngestSettings
from campaignreports.query.settings import QuerySettings
from campaignreports.settings import CommonSettings, describe
from campaignreports.stack.__main__ import StackSettings
from campaignreports.web.settings import WebSettings
from devtools import grafana, reference

SETTINGS = (
    ("all", CommonSettings),
    ("ingest", IngestSettings),
    ("aggregator", AggregatorSettings),
    ("query", QuerySettings),
    ("web", WebSettings),
    ("`make run`", StackSettings),
)
# docs/<name> -> what writes it
GENERATED = {
    "validation.md": reference.validation_markdown,
    "metrics.md": reference.metrics_markdown,
    "error-types.md": reference.error_types_markdown,
}
# Files outside docs/ (from the repository's root) -> what writes them
GENERATED_ELSEWHERE = {"deploy/grafana/campaign-reports.json": grafana.dashboard_json}
# The table's heading; the generated rows follow it.
TABLE_HEADER = "| variable | used by | default | meaning |\n|---|---|---|---|\n"
# Rows the table keeps after the generated ones (variables read outside the settings classes).
TABLE_END_MARKER = "| `CR_STACK_NATS_SERVER_BIN` |"


def settings_rows() -> list[str]:
    seen: set[str] = set()
    rows = []
    for used_by, cls in SETTINGS:
        for variable, default, doc in describe(cls):
            if variable in seen:
                continue
            seen.add(variable)
            shown = {"": "(empty)", "True": "`true`", "False": "`false`"}.get(default, f"`{default}`")
            rows.append(f"| `{variable}` | {used_by} | {shown} | {doc} |")
    return rows


def readme_with_table(readme: str) -> str:
    start = readme.index(TABLE_HEADER) + len(TABLE_HEADER)
    end = readme.index(TABLE_END_MARKER)
    return readme[:start] + "\n".join(settings_rows()) + "\n" + readme[end:]


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    readme = root / "README.md"
    readme.write_text(readme_with_table(readme.read_text()))
    for name, document in GENERATED.items():
        (root / "docs" / name).write_text(document())
    for path, document in GENERATED_ELSEWHERE.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(document())
    print(f"updated README.md, docs/{', docs/'.join(GENERATED)} and {', '.join(GENERATED_ELSEWHERE)}")


if __name__ == "__main__":
    main()
