"""Reading io_usage.log: parse (pure), load (into the database), follow (tail through rotation), demo (synthetic
logs)."""
