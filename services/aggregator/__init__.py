"""The aggregator: folds the event stream into ClickHouse, whose materialized views keep the rollups."""
