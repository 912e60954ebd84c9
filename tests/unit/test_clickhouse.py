"""DSN parsing: embedded paths resolve as documented; passwords never ride in a DSN."""

from __future__ import annotations

import os

import pytest

from campaignreports.clickhouse import chdb_path, create_client
from campaignreports.settings import SettingsError, load_settings
from campaignreports.stack.embedded import EmbeddedSettings


def test_chdb_paths_absolute_and_relative() -> None:
    assert chdb_path("chdb:///var/lib/reports") == "/var/lib/reports"
    assert chdb_path("chdb://.data/clickhouse") == os.path.abspath(".data/clickhouse")
    assert chdb_path("http://clickhouse:8123") is None


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        ("chdb://", "needs a path"),
        ("postgres://db", "must be chdb://PATH or http"),
        ("https://user:hunter2@clickhouse:8443", "must not contain a password"),
    ],
)
def test_bad_dsns_are_refused_with_the_variable_name(dsn: str, message: str) -> None:
    settings = load_settings(EmbeddedSettings, {"CR_CLICKHOUSE_DSN": dsn})
    with pytest.raises(SettingsError, match=message) as caught:
        create_client(settings)
    assert "CR_CLICKHOUSE_DSN" in str(caught.value)
    assert "hunter2" not in str(caught.value)
