"""The ingest service: validates events and stores them durably in JetStream."""
