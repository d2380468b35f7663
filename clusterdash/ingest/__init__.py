"""Reading io_usage.log into the database: read and parse (blocks), load (the Loader: one transaction's rules),
pipeline (one-shot) and follow (through rotation), and demo (synthetic logs, ingested)."""
