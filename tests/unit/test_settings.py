"""Settings: typed, failing with the variable's name; the README documents every variable."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from campaignreports.aggregator.settings import AggregatorSettings
from campaignreports.ingest.settings import IngestSettings
from campaignreports.query.settings import QuerySettings
from campaignreports.settings import CommonSettings, SettingsError, describe, load_settings
from campaignreports.stack.__main__ import StackSettings
from devtools.docs import readme_with_table

ALL_SETTINGS = (IngestSettings, AggregatorSettings, QuerySettings, StackSettings)


def test_defaults_load_from_an_empty_environment() -> None:
    settings = load_settings(IngestSettings, {})
    assert settings.ingest_listen == "127.0.0.1:50051"
    assert load_settings(QuerySettings, {}).query_listen == "127.0.0.1:50052"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CR_INGEST_MAX_EVENTS_PER_REQUEST", "many"),
        ("CR_INGEST_MAX_EVENTS_PER_REQUEST", "-1"),
        ("CR_INGEST_LISTEN", "50051"),
        ("CR_CLICKHOUSE_DATABASE", "db; DROP TABLE x"),
        ("CR_LOG_LEVEL", "LOUD"),
        ("CR_STORED_SUBJECT", "campaignreports.events.stored"),
        ("CR_STORED_SUBJECT", "campaignreports.*"),
        ("CR_STORED_SUBJECT", "stored events"),
        ("CR_CLICKHOUSE_QUIET_MERGE_SECONDS", "-1"),
        ("CR_CLICKHOUSE_QUIET_MERGE_SECONDS", "soon"),
        ("CR_CLICKHOUSE_RAW_PART_MIB", "-1"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings(IngestSettings, {variable: value})


@pytest.mark.parametrize("value", ["0", "-5", "lots"])
def test_a_round_size_below_one_event_names_its_variable(value: str) -> None:
    with pytest.raises(SettingsError, match="CR_AGGREGATOR_ROUND_EVENTS"):
        load_settings(AggregatorSettings, {"CR_AGGREGATOR_ROUND_EVENTS": value})


@pytest.mark.parametrize("variable", ["CR_AGGREGATOR_INSERT_SLICES", "CR_AGGREGATOR_SLICE_EVENTS"])
@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_a_slicing_below_one_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings(AggregatorSettings, {variable: value})


def test_the_slicing_of_new_rounds_comes_from_the_settings() -> None:
    settings = load_settings(
        AggregatorSettings, {"CR_AGGREGATOR_INSERT_SLICES": "3", "CR_AGGREGATOR_SLICE_EVENTS": "500"}
    )
    assert (settings.slicing.slices, settings.slicing.min_events) == (3, 500)


@pytest.mark.parametrize("value", ["-1", "few"])
def test_a_read_whole_threshold_below_zero_names_its_variable(value: str) -> None:
    with pytest.raises(SettingsError, match="CR_QUERY_READ_WHOLE_VALUES"):
        load_settings(QuerySettings, {"CR_QUERY_READ_WHOLE_VALUES": value})
    assert load_settings(QuerySettings, {"CR_QUERY_READ_WHOLE_VALUES": "0"}).read_whole_values == 0


@pytest.mark.parametrize("value", ["0", "33", "many"])
def test_read_clients_out_of_range_names_its_variable(value: str) -> None:
    with pytest.raises(SettingsError, match="CR_QUERY_READ_CLIENTS"):
        load_settings(QuerySettings, {"CR_QUERY_READ_CLIENTS": value})
    assert load_settings(QuerySettings, {"CR_QUERY_READ_CLIENTS": "1"}).read_clients == 1


def test_secret_values_are_not_echoed() -> None:
    fields = {f.metadata["env"]: f for f in dataclasses.fields(IngestSettings)}
    assert fields["CR_CLICKHOUSE_PASSWORD"].metadata["secret"]


def test_the_readme_table_is_generated_from_the_settings() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert readme_with_table(readme) == readme, "run: make docs"
    for cls in ALL_SETTINGS:
        for variable, _, _ in describe(cls):
            assert f"| `{variable}` |" in readme, f"{variable} is not documented in README.md"


def test_a_renamed_variable_is_read_for_one_release_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        old = load_settings(IngestSettings, {"CR_INGEST_MAX_EVENTS": "42"})
    assert old.max_events_per_request == 42
    assert (
        "CR_INGEST_MAX_EVENTS is deprecated" in caplog.text
        and "CR_INGEST_MAX_EVENTS_PER_REQUEST" in caplog.text
    )
    caplog.clear()
    with caplog.at_level("WARNING"):
        both = load_settings(
            IngestSettings, {"CR_INGEST_MAX_EVENTS": "42", "CR_INGEST_MAX_EVENTS_PER_REQUEST": "7"}
        )
    assert both.max_events_per_request == 7
    assert "CR_INGEST_MAX_EVENTS is ignored" in caplog.text
    with pytest.raises(SettingsError, match="CR_INGEST_MAX_EVENTS="):
        load_settings(IngestSettings, {"CR_INGEST_MAX_EVENTS": "lots"})


def test_every_service_setting_carries_its_service_prefix() -> None:
    common = {variable for variable, _, _ in describe(CommonSettings)}
    for cls, prefix in (
        (IngestSettings, "CR_INGEST_"),
        (AggregatorSettings, "CR_AGGREGATOR_"),
        (QuerySettings, "CR_QUERY_"),
    ):
        own = [variable for variable, _, _ in describe(cls) if variable not in common]
        assert own and all(variable.startswith(prefix) for variable in own), (cls.__name__, own)
