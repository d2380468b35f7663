"""The OpenAPI 3 description of /api, served at /api/openapi.json. Kept next to the API and checked against real
responses by tests/test_api_contract.py (jsonschema) and by schemathesis (scripts/schemathesis.sh). The answers'
shapes are in web/apischemas.py; the parameters come from the one vocabulary (db/vocabulary.py)."""

from __future__ import annotations

from typing import Any

from clusterdash.db import vocabulary
from clusterdash.web.apischemas import (
    ALERTS,
    ERROR,
    INTERNAL_ERROR,
    JOB_PROFILE,
    JOBS,
    LIST_RANGE,
    MACHINE_PROFILE,
    MACHINE_ROW,
    SIZES,
    STATS,
    TIME_SERIES,
    USER_PROFILE,
    USER_ROW,
    array,
    obj,
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
                obj({"range": LIST_RANGE, "users": array(USER_ROW)}),
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
                obj({"range": LIST_RANGE, "machines": array(MACHINE_ROW)}),
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
