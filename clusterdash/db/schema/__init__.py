"""The tables, declared once on one MetaData (base.py), one module per area. Declarations only: no queries.

The readable core is the six tables of the original design: LogEntries,
Users, Machines, IOSizeRanges, UserSessions and IOOperations. The log needs a
few extensions, each explained where it is declared:

* a session is one (hour, direction, machine, user) histogram, so UserSessions
  carries the direction (rd/wr) and, copied from its LogEntries row, the epoch
  (time filters then need no join);
* UserSessions also holds its histogram's totals (operations, byte estimates),
  a rollup kept in the same transaction as the IOOperations rows it sums;
* RejectedLines keeps every malformed line for inspection;
* IngestFiles remembers, per followed file, how far it has been read;
* the Rollup* tables sum the histogram rows per day, week, month and year for
  the queries (db/rollups/ maintains them, the query layer reads them);
* Alerts, AlertDeliveries and AlertHours keep the alerts' state (db/alerts/).

Times are UTC epoch seconds (BigInteger) everywhere; the log's wall-clock text
is kept only as it was written.

Modules: base.py (the MetaData and shared rules), core.py (the log's tables),
rollups.py, accounts.py (access control: accounts, cluster usernames, API tokens,
throttling, the audit trail, generated secrets), alerts.py, jobs.py (Slurm jobs and the IO attributed to them). A
new area declares its tables in a module of its own here and is imported below, so that `metadata` always holds
every table.
"""

from __future__ import annotations

from clusterdash.db.schema.accounts import (
    ACCOUNT_TABLES,
    account_usernames,
    accounts,
    api_tokens,
    auth_audit,
    auth_throttle,
    server_secrets,
)
from clusterdash.db.schema.alerts import alert_deliveries, alert_hours, alerts
from clusterdash.db.schema.base import DIRECTIONS, metadata
from clusterdash.db.schema.core import (
    ingest_files,
    io_operations,
    io_size_ranges,
    log_entries,
    machines,
    rejected_lines,
    user_sessions,
    users,
)
from clusterdash.db.schema.jobs import (
    job_days,
    job_nodes,
    job_pulls,
    job_usage,
    jobs,
    jobs_state,
    rejected_job_lines,
)
from clusterdash.db.schema.rollups import (
    ROLLUP_TABLES,
    rollup_machine_sizes,
    rollup_machine_types,
    rollup_machine_usage,
    rollup_pair_sizes,
    rollup_sizes,
    rollup_state,
    rollup_usage,
    rollup_user_sizes,
    rollup_user_usage,
)

__all__ = [
    "DIRECTIONS",
    "metadata",
    "log_entries",
    "users",
    "machines",
    "io_size_ranges",
    "user_sessions",
    "io_operations",
    "rejected_lines",
    "ingest_files",
    "rollup_state",
    "rollup_usage",
    "rollup_user_usage",
    "rollup_machine_usage",
    "rollup_sizes",
    "rollup_user_sizes",
    "rollup_machine_sizes",
    "rollup_pair_sizes",
    "rollup_machine_types",
    "ROLLUP_TABLES",
    "accounts",
    "account_usernames",
    "api_tokens",
    "auth_throttle",
    "auth_audit",
    "server_secrets",
    "ACCOUNT_TABLES",
    "alerts",
    "alert_deliveries",
    "alert_hours",
    "jobs",
    "job_nodes",
    "jobs_state",
    "job_pulls",
    "rejected_job_lines",
    "job_usage",
    "job_days",
]
