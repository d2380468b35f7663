"""The shapes of the API's answers, as JSON Schema, for the OpenAPI document (web/openapi.py): one constant per
answer or part of one, named as the document names them."""

from __future__ import annotations

TIME = {"type": "string", "description": "ISO-8601 UTC, e.g. 2025-03-12T14:00:00Z"}
NTIME = {"type": ["string", "null"], "description": "ISO-8601 UTC, or null"}
INT = {"type": "integer"}
NINT = {"type": ["integer", "null"]}
NUM = {"type": "number"}
NNUM = {"type": ["number", "null"]}
NSTR = {"type": ["string", "null"]}


def obj(properties: dict, required: bool = True) -> dict:
    return {"type": "object", "properties": properties, **({"required": list(properties)} if required else {})}


def array(items: dict) -> dict:
    return {"type": "array", "items": items}


RANGE = obj({"start": TIME, "end": TIME, "start_epoch": INT, "end_epoch": INT, "hours": INT})
BYTES = {"bytes_low": NUM, "bytes": NUM, "bytes_high": NNUM}
GAP = obj({"start": TIME, "end": TIME, "start_epoch": INT, "end_epoch": INT, "hours": INT})
USER_ROW = obj(
    {
        "user": {"type": "string"},
        "role": NSTR,
        "affiliation": NSTR,
        "first_seen": TIME,
        "last_seen": TIME,
        "sessions": INT,
        "operations": INT,
        "small_operations": INT,
        **BYTES,
    }
)
MACHINE_ROW = obj(
    {
        "machine": {"type": "string"},
        "machine_type": {"type": "string"},
        "first_seen": TIME,
        "last_seen": TIME,
        "users": INT,
        "sessions": INT,
        "operations": INT,
        "small_operations": INT,
        **BYTES,
    }
)
SIZE_ROW = obj(
    {
        "label": {"type": "string"},
        "lower_bytes": NNUM,
        "upper_bytes": NNUM,
        "small": {"type": "boolean"},
        "rows": INT,
        "operations": INT,
        **BYTES,
    }
)
BUCKET = obj({"time": TIME, "epoch": INT, "hours": INT, "hours_with_data": INT})
POINT = obj(
    {
        "time": TIME,
        "epoch": INT,
        "group": {"type": "string"},
        "operations": {**NINT, "description": "null: no block in this bucket (no data, not zero IO)"},
        "bytes": NNUM,
    }
)
SERIES_PART = {
    "bucket": {"type": "string", "enum": ["hour", "day", "week", "month"]},
    "tz": {"type": "string"},
    "buckets": array(BUCKET),
    "points": array(POINT),
}
TIME_SERIES = obj(
    {
        "range": RANGE,
        "group_by": {"type": "string"},
        "top": INT,
        "bytes_estimate": {"type": "string"},
        "groups": array({"type": "string"}),
        **SERIES_PART,
    }
)
SIZES = obj(
    {
        "range": RANGE,
        "bytes_estimate": {"type": "string", "enum": ["midpoint"]},
        "note": {"type": "string"},
        "operations": INT,
        "bytes": NUM,
        "buckets": array(SIZE_ROW),
    }
)
TOTALS = obj(
    {"sessions": INT, "operations": INT, "rd_operations": INT, "wr_operations": INT, "small_operations": INT, **BYTES}
)
RANKED = obj(
    {
        "rank": {**NINT, "description": "1 + how many have more; null without operations in the range"},
        "share": {**NNUM, "description": "of everyone's total (0 to 1); null when that total is 0"},
        "total": NUM,
    }
)
STANDING = obj(
    {
        "among": {"type": "string", "enum": ["users", "machines"]},
        "of": {**INT, "description": "how many have operations in the range"},
        "operations": RANKED,
        "bytes": RANKED,
    }
)
USUAL_WEEK = obj(
    {
        "weeks_before": INT,
        "start": TIME,
        "end": TIME,
        "hours": INT,
        "hours_with_data": INT,
        "counted": {"type": "boolean"},
        "operations": NINT,
        "bytes": NNUM,
    }
)
USUAL = obj(
    {
        "definition": {"type": "string"},
        "weeks_counted": INT,
        "enough_history": {"type": "boolean"},
        "note": {**NSTR, "description": "why there is no usual level (too little history, a range over a week)"},
        "operations": {**NNUM, "description": "the median of the counted weeks; null without enough history"},
        "bytes": NNUM,
        "ratio": obj({"operations": NNUM, "bytes": NNUM}),
        "weeks": array(USUAL_WEEK),
    }
)
HOUR_START = {**TIME, "description": "the start of the hour the block reports (the hour before its log time)"}
PROFILE_COMMON = {
    "first_seen": {**TIME, "description": "the log time of the first block"},
    "last_seen": {**TIME, "description": "the log time of the last block"},
    "first_hour": HOUR_START,
    "last_hour": HOUR_START,
    "standing": {
        "anyOf": [STANDING, {"type": "null"}],
        "description": "rank and share among all users (machines) under the other filters; null for a signed-in "
        "user who sees only their own IO (their share of the rest is the dashboard's anonymous everyone-else figure)",
    },
    "usual": {**USUAL, "description": "the median of the same local hours 1 to 4 weeks before"},
    "range": RANGE,
    "totals": TOTALS,
    "sizes": array(SIZE_ROW),
    "bytes_estimate": {"type": "string"},
    "series": obj(SERIES_PART),
}
USER_PROFILE = obj(
    {"user": {"type": "string"}, "role": NSTR, "affiliation": NSTR, "machines": array(MACHINE_ROW), **PROFILE_COMMON}
)
MACHINE_PROFILE = obj(
    {"machine": {"type": "string"}, "machine_type": {"type": "string"}, "users": array(USER_ROW), **PROFILE_COMMON}
)
STATS = obj(
    {
        "blocks": INT,
        "entries": INT,
        "rows": INT,
        "users": INT,
        "machines": INT,
        "operations": obj({"rd": INT, "wr": INT, "total": INT}),
        "rejected_lines": INT,
        "hours_with_lost_events": INT,
        "first": NTIME,
        "last": NTIME,
        "range": RANGE,
        "freshness": obj({"last_block": NTIME, "last_block_epoch": NINT, "age_seconds": NINT}),
        "gaps": array(GAP),
    }
)
JOB = obj(
    {
        "job": {"type": "string", "description": "the JobID as sacct prints it: 123, 123_4, 123+0"},
        "job_id_raw": INT,
        "array_job_id": NINT,
        "array_task_id": NINT,
        "het_job_id": NINT,
        "het_offset": NINT,
        "user": {"type": "string"},
        "account": {"type": "string"},
        "partition": {"type": "string"},
        "name": {"type": "string"},
        "state": {"type": "string"},
        "state_text": {"type": "string"},
        "submit": NTIME,
        "start": NTIME,
        "end": {**NTIME, "description": "null while it runs"},
        "ran_until": {**NTIME, "description": "its end, or start + Elapsed when sacct last listed it running"},
        "elapsed": NINT,
        "nnodes": INT,
        "node_list": {"type": "string", "description": "Slurm's compressed NodeList, e.g. tikgpu[01-03]"},
        "cpus": NINT,
        "gpus": NINT,
        "mem_bytes": NINT,
    }
)
JOB_ROW = obj(
    {
        **JOB["properties"],
        "operations": INT,
        "small_operations": INT,
        "small_share": NNUM,
        "bytes": NUM,
        "node_hours": NUM,
        "operations_per_node_hour": NNUM,
        "bytes_per_node_hour": NNUM,
    }
)
JOBS = obj(
    {
        "range": RANGE,
        "bytes_estimate": {"type": "string", "enum": ["midpoint"]},
        "operations_estimated": {
            "type": "boolean",
            "description": "with a size filter: each job's share of each session times its rows in those sizes",
        },
        "jobs_with_io": INT,
        "totals": obj(
            {
                "operations": INT,
                "bytes": NUM,
                "attributed_operations": INT,
                "attributed_bytes": NUM,
                "outside_operations": INT,
                "outside_bytes": NUM,
            }
        ),
        "jobs": array(JOB_ROW),
    }
)
JOB_PROFILE = obj(
    {
        "job": JOB,
        "allocation": array(obj({"machine": {"type": "string"}, "cpus": INT})),
        "bytes_estimate": {"type": "string"},
        "range": RANGE,
        "totals": obj(
            {"operations": INT, "rd_operations": INT, "wr_operations": INT, "small_operations": INT, "bytes": NUM}
        ),
        "machines": array(obj({"machine": {"type": "string"}, "operations": INT, "bytes": NUM})),
        "series": obj(
            {
                "bucket": {"type": "string", "enum": ["hour"]},
                "points": array(
                    obj(
                        {
                            "time": TIME,
                            "epoch": INT,
                            "operations": {**NINT, "description": "null: no block in this hour (no data, not zero)"},
                            "rd_operations": NINT,
                            "wr_operations": NINT,
                            "bytes": NNUM,
                        }
                    )
                ),
            }
        ),
        "sizes": array(
            obj(
                {"label": {"type": "string"}, "lower_bytes": NNUM, "upper_bytes": NNUM, "operations": INT, "bytes": NUM}
            )
        ),
        "cells": obj({"operations": INT, "taken_by_this_job": INT, "share": NNUM}),
    }
)
LIST_RANGE = obj({"start_epoch": NINT, "end_epoch": NINT, "tz": {"type": "string"}})
STR = {"type": "string"}
ALERT = obj(
    {
        "id": INT,
        "key": {**STR, "description": "rule/subject, e.g. heavy-small-reads/user=alice"},
        "rule": STR,
        "severity": {"type": "string", "enum": ["info", "warning", "critical"]},
        "state": {"type": "string", "enum": ["open", "resolved"]},
        "subject": {
            "type": "object",
            "properties": {"kind": STR, "user": STR, "machine": STR, "machine_type": STR, "role": STR},
            "required": ["kind"],
        },
        "since": {**TIME, "description": "the first hour of the window in which it fired"},
        "first_hour": {**TIME, "description": "the hour it fired"},
        "last_hour": {**TIME, "description": "the latest hour it held"},
        "until": TIME,
        "resolved": {**NTIME, "description": "the first hour it no longer held; null while open"},
        "since_epoch": INT,
        "first_hour_epoch": INT,
        "last_hour_epoch": INT,
        "value": NUM,
        "peak": NUM,
        "threshold": {**NUM, "description": "what the value had to pass"},
        "baseline": {**NNUM, "description": "a baseline rule's median"},
        "users": array(STR),
        "machines": array(STR),
        "notify": {"type": "string", "enum": ["pending", "sending", "sent", "failed", "stale", "off", "quiet"]},
        "notified_at": NTIME,
        "opened_at": TIME,
        "link": {**STR, "description": "the dashboard view that shows it (path and query)"},
    }
)
RULE = {
    "type": "object",
    "description": "A rule as its TOML keys, defaults filled in, and its one-line summary.",
    "properties": {"name": STR, "summary": STR, "subject": STR, "measure": STR, "enabled": {"type": "boolean"}},
    "required": ["name", "summary", "subject", "measure", "enabled"],
}
ALERTS = obj({"range": LIST_RANGE, "alerts": array(ALERT), "rules": array(RULE)})
ERROR = obj({"error": {"type": "string"}, "parameter": NSTR})
INTERNAL_ERROR = obj(
    {"error": {"const": "internal error"}, "parameter": {"type": "null"}, "reference": {"type": "string"}}
)
