"""Rollups: the histogram rows summed per day, week, month and year, kept by the ingest in its own transaction.

Why: SQLite aggregates a few million rollup rows a second here, but a year holds 1.5M histogram rows in 170k
sessions; a request must read thousands of rows, not millions. The tables (declared in db/schema/rollups.py), with
their rows for one year of demo data (1.48M histogram rows):

  table               dimensions                                     grains    rows
  RollupUsage         user x machine x direction (+ bucket bits)     y m w     48k
  RollupUserUsage     user x machine type x direction (+ bits)       y m w d   56k
  RollupMachineUsage  machine x direction (+ bucket bits)            y m w d   26k
  RollupSizes         direction x size bucket                        y m w d   17k
  RollupUserSizes     user x machine type x direction x size bucket    m w     236k
  RollupMachineSizes  machine x direction x size bucket                m w     87k
  RollupPairSizes     user x machine x direction x size bucket           m     170k

A period is a day, an ISO week (from Monday), a month or a year of the *rollup zone*, one IANA zone per database
(RollupState; the display zone of the server). Queries read the smallest table that has the dimensions they
need, whole periods from it and the hours at the range's edges from the raw tables (the query layer). The grains
are what the reads need against what the writes cost: a size rollup per user or machine per day would hold a
fifth of the raw rows, and user x machine per day is answered from UserSessions (which carries each session's
totals) at little cost. Per user x machine x size bucket only months are kept (11.5% of the raw rows; weeks
would hold 19%): a size filter with users and machines both involved (the user x machine table, the
machines of a role, the users of a machine) would otherwise read raw rows, a year of them for the dashboard's table.
The hours outside whole months, and series in weeks, still read raw rows for such questions; the bucket bits

Maintenance. Every entry point (the CLI's init, ingest, demo and serve; the app factory) first calls
db/setup.py's prepare_database, which leaves the rollups complete in the zone its caller names: the server's
display zone, or for init, ingest and demo the zone they are complete in already (else the one given). Missing
rollups (a database from before them), another layout version or another zone are rebuilt there from the raw
tables (ensure_rollups, rebuild_rollups; logged with the time it took); an empty database's are just recorded
complete. A web request never builds them. The ingest then hands the new sessions and histogram rows of each
transaction to add_to_rollups before it commits (the rollups never lag the rows): after each batch in follow mode,
once per ~160k rows in a one-shot ingest (PendingRollups, which sums each batch to day cells as it comes). They are
summed with numpy per day cell (day x user x machine x direction) x bucket, then per day, week, month and year, and
upserted set-wise (every measure is additive, so a batch adds to what is stored). Rollups that are not complete
get nothing added: the queries read the raw tables until the next prepare_database rebuilds them. The per-user
rollups are filed under each machine's current type (RollupMachineTypes); should a machine's type change, the
ingest rebuilds them.

The modules: summarise.py (pure numpy: day cells, groupings, rollup rows), write.py (the upserts), state.py
(RollupState: ensure, rebuild, machine types) and add.py (the ingest's entry points).
"""

from clusterdash.db.rollups.add import PendingRollups, add_to_rollups, stored_operations
from clusterdash.db.rollups.state import VERSION, ensure_rollups, rebuild_rollups, rollup_zone
from clusterdash.db.rollups.summarise import GRAINS, MAX_BUCKET_BIT, bucket_mask

__all__ = [
    "GRAINS",
    "MAX_BUCKET_BIT",
    "VERSION",
    "PendingRollups",
    "add_to_rollups",
    "bucket_mask",
    "ensure_rollups",
    "rebuild_rollups",
    "rollup_zone",
    "stored_operations",
]
