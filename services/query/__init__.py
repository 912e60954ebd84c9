"""The query service: answers report widgets from the rollups."""
