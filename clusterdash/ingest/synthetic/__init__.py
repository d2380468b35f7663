"""A synthetic cluster and the io_usage.log its tracer would write: population.py (people and machines),
simulation.py (jobs hour by hour), render.py (bpftrace's text). The demo (ingest/demo.py) writes and ingests it."""
