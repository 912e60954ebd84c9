"""Campaign reports: the library every service is composed of.

Settings, telemetry, the gRPC server helper, NATS/JetStream and ClickHouse access, the schema,
and the pure domain (validation rules, metric definitions, widget catalog) live here once.
"""
