"""Storage: schema, engine and the only read queries. Imports neither ingest nor web."""
