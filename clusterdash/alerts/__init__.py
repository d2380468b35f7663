"""Alerts on IO. rules.py: the rule model, its words and plain data, alert identity; rulefile.py: reading and
validating a TOML rule file; messages.py: the Alert value and what a message says; notify.py: email and webhook
delivery with bounded retries, results as values; settings.py: the alert settings read into a Notifier."""
