"""The OpenAPI 3 description of /api, served at /api/openapi.json. Kept next to the API and checked against real
responses by tests/test_api_contract.py (jsonschema) and by schemathesis (scripts/schemathesis.sh)."""

from __future__ import annotations

from typing import Any

from clusterdash.db import vocabulary

TIME = {"type": "string", "description": "ISO-8601 UTC, e.g. 2025-03-12T14:00:00Z"}
NTIME = {"type": ["string", "null"], "description": "ISO-8601 UTC, or null"}
INT = {"type": "integer"}
NINT = {"type": ["integer", "null"]}
NUM = {"type": "number"}
NNUM = {"type": ["number", "null"]}
NSTR = {"type": ["string", "null"]}


def _obj(properties: dict, required: bool = True) -> dict:
    return {"type": "object", "properties": properties, **({"required": list(properties)} if required else {})}


def _array(items: dict) -> dict:
    return {"type": "array", "items": items}


RANGE = _obj({"start": TIME, "end": TIME, "start_epoch": INT, "end_epoch": INT, "hours": INT})
BYTES = {"bytes_low": NUM, "bytes": NUM, "bytes_high": NNUM}
GAP = _obj({"start": TIME, "end": TIME, "start_epoch": INT, "end_epoch": INT, "hours": INT})
USER_ROW = _obj(
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
MACHINE_ROW = _obj(
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
SIZE_ROW = _obj(
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
BUCKET = _obj({"time": TIME, "epoch": INT, "hours": INT, "hours_with_data": INT})
POINT = _obj(
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
    "buckets": _array(BUCKET),
    "points": _array(POINT),
}
TIME_SERIES = _obj(
    {
        "range": RANGE,
        "group_by": {"type": "string"},
        "top": INT,
        "bytes_estimate": {"type": "string"},
        "groups": _array({"type": "string"}),
        **SERIES_PART,
    }
)
SIZES = _obj(
    {
        "range": RANGE,
        "bytes_estimate": {"type": "string", "enum": ["midpoint"]},
        "note": {"type": "string"},
        "operations": INT,
        "bytes": NUM,
        "buckets": _array(SIZE_ROW),
    }
)
TOTALS = _obj(
    {"sessions": INT, "operations": INT, "rd_operations": INT, "wr_operations": INT, "small_operations": INT, **BYTES}
)
RANKED = _obj(
    {
        "rank": {**NINT, "description": "1 + how many have more; null without operations in the range"},
        "share": {**NNUM, "description": "of everyone's total (0 to 1); null when that total is 0"},
        "total": NUM,
    }
)
STANDING = _obj(
    {
        "among": {"type": "string", "enum": ["users", "machines"]},
        "of": {**INT, "description": "how many have operations in the range"},
        "operations": RANKED,
        "bytes": RANKED,
    }
)
USUAL_WEEK = _obj(
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
USUAL = _obj(
    {
        "definition": {"type": "string"},
        "weeks_counted": INT,
        "enough_history": {"type": "boolean"},
        "note": {**NSTR, "description": "why there is no usual level (too little history, a range over a week)"},
        "operations": {**NNUM, "description": "the median of the counted weeks; null without enough history"},
        "bytes": NNUM,
        "ratio": _obj({"operations": NNUM, "bytes": NNUM}),
        "weeks": _array(USUAL_WEEK),
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
    "sizes": _array(SIZE_ROW),
    "bytes_estimate": {"type": "string"},
    "series": _obj(SERIES_PART),
}
USER_PROFILE = _obj(
    {"user": {"type": "string"}, "role": NSTR, "affiliation": NSTR, "machines": _array(MACHINE_ROW), **PROFILE_COMMON}
)
MACHINE_PROFILE = _obj(
    {"machine": {"type": "string"}, "machine_type": {"type": "string"}, "users": _array(USER_ROW), **PROFILE_COMMON}
)
STATS = _obj(
    {
        "blocks": INT,
        "entries": INT,
        "rows": INT,
        "users": INT,
        "machines": INT,
        "operations": _obj({"rd": INT, "wr": INT, "total": INT}),
        "rejected_lines": INT,
        "hours_with_lost_events": INT,
        "first": NTIME,
        "last": NTIME,
        "range": RANGE,
        "freshness": _obj({"last_block": NTIME, "last_block_epoch": NINT, "age_seconds": NINT}),
        "gaps": _array(GAP),
    }
)
JOB = _obj(
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
JOB_ROW = _obj(
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
JOBS = _obj(
    {
        "range": RANGE,
        "bytes_estimate": {"type": "string", "enum": ["midpoint"]},
        "operations_estimated": {
            "type": "boolean",
            "description": "with a size filter: each job's share of each session times its rows in those sizes",
        },
        "jobs_with_io": INT,
        "totals": _obj(
            {
                "operations": INT,
                "bytes": NUM,
                "attributed_operations": INT,
                "attributed_bytes": NUM,
                "outside_operations": INT,
                "outside_bytes": NUM,
            }
        ),
        "jobs": _array(JOB_ROW),
    }
)
JOB_PROFILE = _obj(
    {
        "job": JOB,
        "allocation": _array(_obj({"machine": {"type": "string"}, "cpus": INT})),
        "bytes_estimate": {"type": "string"},
        "range": RANGE,
        "totals": _obj(
            {"operations": INT, "rd_operations": INT, "wr_operations": INT, "small_operations": INT, "bytes": NUM}
        ),
        "machines": _array(_obj({"machine": {"type": "string"}, "operations": INT, "bytes": NUM})),
        "series": _obj(
            {
                "bucket": {"type": "string", "enum": ["hour"]},
                "points": _array(
                    _obj(
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
        "sizes": _array(
            _obj(
                {"label": {"type": "string"}, "lower_bytes": NNUM, "upper_bytes": NNUM, "operations": INT, "bytes": NUM}
            )
        ),
        "cells": _obj({"operations": INT, "taken_by_this_job": INT, "share": NNUM}),
    }
)
LIST_RANGE = _obj({"start_epoch": NINT, "end_epoch": NINT, "tz": {"type": "string"}})
STR = {"type": "string"}
ALERT = _obj(
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
        "users": _array(STR),
        "machines": _array(STR),
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
ALERTS = _obj({"range": LIST_RANGE, "alerts": _array(ALERT), "rules": _array(RULE)})
ERROR = _obj({"error": {"type": "string"}, "parameter": NSTR})
INTERNAL_ERROR = _obj(
    {"error": {"const": "internal error"}, "parameter": {"type": "null"}, "reference": {"type": "string"}}
)


def _param(name: str, description: str, schema: dict | None = None, repeat: bool = False, where: str = "query") -> dict:
    schema = schema or {"type": "string"}
    if repeat:
        schema = {"type": "array", "items": schema}
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": schema,
        **({"style": "form", "explode": True} if repeat else {}),
    }


def _schema_of(p: vocabulary.Parameter) -> dict:
    if p.kind == vocabulary.INTEGER:
        return {"type": "integer", "minimum": p.low, "maximum": p.high}
    if p.kind in (vocabulary.CHOICE, vocabulary.PRESET):
        return {"type": "string", "enum": [*p.choices, *p.value_aliases]}
    return {"type": "string"}


def _described(p: vocabulary.Parameter) -> str:
    notes = []
    if p.aliases:
        notes.append(f"Also accepted as {' or '.join(p.aliases)} (the same parameter: give one).")
    if p.kind == vocabulary.NAME:
        notes.append(f"A {p.noun} nothing stored has is a 400 naming it, with the closest stored names.")
    if p.kind == vocabulary.SIZE:
        notes.append("A value that names no stored bucket is a 400 listing the stored ones.")
    if p.role == vocabulary.SHAPE:
        notes.append("Accepted and ignored by the endpoints it does not apply to.")
    if p.role == vocabulary.VIEW:
        notes.append("Accepted and ignored by the API (the dashboard's URL carries it).")
    return " ".join([p.help, *notes])


# Every endpoint knows every parameter of the vocabulary (db/vocabulary.py), so a dashboard view's query string
# asks any endpoint the same question; an unknown parameter is a 400 naming it.
PARAMETERS = [_param(p.name, _described(p), _schema_of(p), repeat=p.repeat) for p in vocabulary.PARAMETERS.values()]


def _json(schema: dict, csv: bool = False) -> dict:
    content = {"application/json": {"schema": schema}}
    if csv:
        content["text/csv"] = {"schema": {"type": "string"}}
    return content


def _operation(
    operation_id: str,
    summary: str,
    schema: dict,
    parameters: list,
    csv: bool = False,
    not_found: bool = False,
    links: dict | None = None,
) -> dict:
    responses = {
        "200": {"description": "OK", "content": _json(schema, csv)},
        "400": {"description": "A bad parameter, named in the message.", "content": _json(ERROR)},
    }
    if links:
        responses["200"]["links"] = links
    if not_found:
        responses["404"] = {"description": "No such user or machine.", "content": _json(ERROR)}
    responses["500"] = {
        "description": "A bug: no details here; the server logs the traceback under the reference.",
        "content": _json(INTERNAL_ERROR),
    }
    responses["503"] = {"description": "The database cannot be reached.", "content": _json(ERROR)}
    return {"get": {"operationId": operation_id, "summary": summary, "parameters": parameters, "responses": responses}}


def _link(operation_id: str, parameter: str, value: str, description: str) -> dict:
    return {"operationId": operation_id, "parameters": {parameter: value}, "description": description}


def _name(name: str, description: str, example: str | None) -> dict:
    parameter = _param(name, description, where="path")
    if example is not None:
        parameter["example"] = example
    return parameter


def openapi_document(
    user_example: str | None = None, machine_example: str | None = None, job_example: str | None = None
) -> dict[str, Any]:
    """The document; `user_example` / `machine_example` / `job_example`: names in this database, shown as the
    profiles' path parameter examples (clients and schemathesis then try a profile that exists, not only 404s)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "clusterdash API",
            "version": "1",
            "description": "NFS file server IO usage per user, machine, hour and size bucket. Times are "
            "ISO-8601 UTC; a block logged at 14:00:15 reports the hour 13:00-14:00. Bytes are "
            "estimates from size buckets (bytes: midpoint; bytes_low / bytes_high: bounds). Every endpoint takes "
            "the dashboard's URL parameters (one vocabulary: a view's query string asks the same question); an "
            "unknown parameter, or a name nothing stored has, is a 400 naming it. A range is held to the hours "
            "that have data.",
        },
        "paths": {
            "/api/stats": _operation(
                "stats", "What the database holds for the filters, freshness and gaps.", STATS, PARAMETERS
            ),
            "/api/users": _operation(
                "users",
                "Users active in the range.",
                _obj({"range": LIST_RANGE, "users": _array(USER_ROW)}),
                PARAMETERS,
                csv=True,
                links={
                    "UserProfile": _link(
                        "userProfile",
                        "username",
                        "$response.body#/users/0/user",
                        "The profile of the first user listed.",
                    )
                },
            ),
            "/api/machines": _operation(
                "machines",
                "Machines active in the range.",
                _obj({"range": LIST_RANGE, "machines": _array(MACHINE_ROW)}),
                PARAMETERS,
                csv=True,
                links={
                    "MachineProfile": _link(
                        "machineProfile",
                        "machine_name",
                        "$response.body#/machines/0/machine",
                        "The profile of the first machine listed.",
                    )
                },
            ),
            "/api/usage/user/{username}": _operation(
                "userProfile",
                "One user's profile.",
                USER_PROFILE,
                [_name("username", "Username (any stored name, / included).", user_example)] + PARAMETERS,
                not_found=True,
            ),
            "/api/usage/machine/{machine_name}": _operation(
                "machineProfile",
                "One machine's profile.",
                MACHINE_PROFILE,
                [_name("machine_name", "Machine name (any stored name, / included).", machine_example)] + PARAMETERS,
                not_found=True,
            ),
            "/api/usage/time": _operation(
                "usageTime",
                "Operations and bytes per time bucket and group; buckets without data have operations null.",
                TIME_SERIES,
                PARAMETERS,
                csv=True,
            ),
            "/api/usage/size": _operation(
                "usageSize", "Operations and bytes per size bucket.", SIZES, PARAMETERS, csv=True
            ),
            "/api/alerts": _operation(
                "alerts",
                "Alerts whose hours overlap the range, about the users, machines, machine types and roles named "
                "(direction, size and affiliation do not apply), open ones first, at most `limit` (default 200, "
                "at most 1000); and the rules, read-only (for an asker who sees everything).",
                ALERTS,
                PARAMETERS,
            ),
            "/api/jobs": _operation(
                "jobs",
                "Slurm jobs ranked by their IO in the range (each hour's IO of a user on a machine shared among that "
                "user's jobs there by seconds x CPUs), with the range's IO in all and outside jobs.",
                JOBS,
                PARAMETERS,
                csv=True,
                links={
                    "JobProfile": _link("jobProfile", "job_id", "$response.body#/jobs/0/job", "The first job listed.")
                },
            ),
            "/api/usage/job/{job_id}": _operation(
                "jobProfile",
                "One job: its allocation, its IO hour by hour, by machine and by size, and its part of its user's IO "
                "on its nodes while it ran. A job whose user the filters exclude is not found.",
                JOB_PROFILE,
                [_name("job_id", "JobID (123, 123_4, 123+0) or JobIDRaw.", job_example), *PARAMETERS],
                not_found=True,
            ),
        },
    }
