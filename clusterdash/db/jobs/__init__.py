"""Slurm jobs in the database, in the writer's transaction: the rules of a job's record (records.py, pure),
storing jobs, bad sacct lines and pulls (store.py), and keeping the IO attributed to them (maintain.py). The
arithmetic of the attribution is db/attribution.py; the questions asked of it are db/query/jobs.py.

Import from the modules (this package imports nothing, so that the pure rules cost no database import)."""
