"""Internal stream payloads between ingest and the aggregator."""
