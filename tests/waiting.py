"""How tests wait: on a condition, checked every POLL_SECONDS until a deadline; never a fixed sleep."""

POLL_SECONDS = 0.1  # how often a waiting test looks again; the deadline, not this, bounds the wait
