"""The only read SQL: a `Filters` value in, plain data (dicts and lists, times as epochs and ISO-8601 Z) out.

The CLI, the API and the dashboard all ask here. Each question is answered from the smallest table that has the
dimensions it needs (db/rollups/ lists them): a range of hours is cut into whole years, months, weeks and days of the
rollup zone, read from that table, and the hours left at its edges, read from the raw tables (sources.plan).

  needs (filters or groups)                         reads
  users and named machines, no size bucket          RollupUsage (+ UserSessions for the edges)
  users (a machine type counts as a user filter)    RollupUserUsage; with sizes RollupUserSizes
  machines only, or neither                         RollupMachineUsage; with sizes RollupMachineSizes / RollupSizes
  size buckets, users and named machines            RollupUserSizes / RollupMachineSizes when the usage rollups'
                                                    session counts show that one filter removes no session beyond
                                                    the other (by_size._pair_plan); else whole months from
                                                    RollupPairSizes, the other hours by subtraction or from raw
                                                    rows; "who used these sizes" from the bucket bits of the usage
                                                    rollups (totals.active)

A size filter on a size rollup is read (on SQLite) through the usage rollup with the same keys: only the keys whose
bucket bits include a filtered bucket are looked up (by_size._size_rollup).

Without complete rollups (never built, being rebuilt) every hour is read from the raw tables: correct, slower.
A series drawn in a zone other than the rollup zone reads the rollup periods that lie inside each of its
buckets and the raw hours around their boundaries.

The modules, each with one job:
  scope         Filters resolved to ids and hours (Scope), within the access scope (Filters.visible_users: the
                server sets it from the signed-in user; a name outside it resolves like an unknown one); the
                WHERE clauses; a request's Reader (its memo)
  sources       which table answers, the whole periods in a range (Plan), the raw hours and their index
  measures      the Measures value (sessions, rows, operations, bytes...) and the size rows
  usage         usage sums from the usage rollups and UserSessions
  by_size       rows and operations per size bucket, from the size rollups or the raw rows
  totals        totals per group honouring the size filter; who was active
  coverage      blocks, gaps, per-bucket coverage, freshness, lost hours, data_version
  buckets       a series' time buckets
  sql           SQL building blocks (typed SUM, the local day of a raw row, the index hint)
  standing      rank and share among all users or machines; who loaded the server (load_shares)
  usual         a subject's usual level: the median of the same hours in the weeks before
  stats, tables, series, distribution, profiles, share: the public questions
  jobs, jobprofile, jobselect: the questions about Slurm jobs, and a job selection as a filter

Public functions (all take an open Connection first):
  database_stats(conn)                                  what `clusterdash stats --json` prints (+ gap_summary)
  latest_block_epoch(conn)                              the newest block's epoch, or None
  stats(conn, filters)                                  database_stats keys for the filters + freshness + gaps
  users_table(conn, filters, sort, order, limit)        one dict per user active in the range
  machines_table(conn, filters, sort, order, limit)     one dict per machine active in the range
  user_profile(conn, username, filters)                 dict, or None for an unknown user (with its standing
                                                        among all users and its usual level)
  machine_profile(conn, name, filters)                  dict, or None for an unknown machine (the same)
  load_shares(conn, filters)                            each user's share of operations and of bytes, side by side
  time_series(conn, filters, bucket, group_by, top)     buckets with coverage, points per group
  size_distribution(conn, filters)                      operations and bytes per size bucket
  size_buckets(conn)                                    every size bucket seen, smallest first
  choose_bucket(first_hour, end_hour)                   the series bucket used when none is asked for
  example_names(conn, filters)                          a user and a machine that exist (and are visible), for examples
  everyone_else(conn, filters)                          a scoped user's own figure and the rest of the cluster's
  check_names(conn, filters)                            BadParameter for a name nothing stored has (names)
  unknown_names(conn, parameter, names)                 which of these names nothing stored has, one query
  data_extent(conn)                                     (first hour, end hour) of the stored blocks, or None
  jobs_table(conn, filters, sort, order, limit)         jobs that did IO in the range, ranked; outside jobs
  running_jobs(conn, filters, sort, order, limit)       jobs that ran in the newest hour, with their IO in it
  job_profile(conn, job, filters)                       one job: allocation, IO by hour, machine and size
  and, for the dashboard: data_version, data_health, user_machine_usage, size_series
  alert_list(conn, filters, state, rules, severities, limit)   alerts overlapping the range (alerts.py)
  alert_marks(conn, filters)                            the hours alerts fired, for a time chart
A bad parameter (sort, order, limit, bucket, group_by, top) raises errors.BadParameter naming it.
"""

from clusterdash.db.query.alerts import MAX_ALERTS, alert_list, alert_marks
from clusterdash.db.query.buckets import BUCKETS, HOURLY_UP_TO_HOURS, MAX_POINTS, choose_bucket
from clusterdash.db.query.coverage import data_extent, data_version, gap_summary
from clusterdash.db.query.distribution import size_buckets, size_distribution, size_series
from clusterdash.db.query.jobprofile import job_profile
from clusterdash.db.query.jobs import JOB_SORTS, example_job, jobs_table, running_jobs
from clusterdash.db.query.measures import BYTES_ESTIMATE
from clusterdash.db.query.names import check_names, unknown_names
from clusterdash.db.query.profiles import machine_profile, user_profile
from clusterdash.db.query.series import GROUP_BYS, time_series
from clusterdash.db.query.share import everyone_else
from clusterdash.db.query.standing import load_shares
from clusterdash.db.query.stats import data_health, database_stats, example_names, latest_block_epoch, stats
from clusterdash.db.query.tables import USER_SORTS, machines_table, user_machine_usage, users_table

__all__ = [
    "MAX_ALERTS",
    "alert_list",
    "alert_marks",
    "BUCKETS",
    "BYTES_ESTIMATE",
    "GROUP_BYS",
    "HOURLY_UP_TO_HOURS",
    "MAX_POINTS",
    "JOB_SORTS",
    "USER_SORTS",
    "check_names",
    "choose_bucket",
    "data_extent",
    "data_health",
    "data_version",
    "database_stats",
    "gap_summary",
    "everyone_else",
    "job_profile",
    "jobs_table",
    "example_job",
    "example_names",
    "latest_block_epoch",
    "load_shares",
    "machine_profile",
    "running_jobs",
    "machines_table",
    "size_buckets",
    "size_distribution",
    "size_series",
    "stats",
    "time_series",
    "unknown_names",
    "user_machine_usage",
    "user_profile",
    "users_table",
]
