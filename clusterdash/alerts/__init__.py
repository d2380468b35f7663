"""Alerts: rules on IO (rules.py: the model; rulefile.py: reading and validating a TOML rule file), and the
messages they send (messages.py: what a message says; notify.py: email and webhook delivery with retries)."""
