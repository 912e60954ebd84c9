"""`python -m campaignreports.aggregator`: the aggregator on its own (production mode)."""

from __future__ import annotations

from campaignreports.aggregator.app import serve
from campaignreports.aggregator.settings import AggregatorSettings
from campaignreports.service import run_main


def main() -> None:
    run_main(AggregatorSettings, serve)


if __name__ == "__main__":
    main()
