"""Event ingest: HTTP request bodies validated against the event schemas and enriched."""
