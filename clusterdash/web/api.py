"""The JSON API: request arguments -> Filters -> db.query -> JSON or CSV. No SQL here.

Mount it with `api_blueprint(engine_provider)` (or `register_api(server, engine, settings)`, which the app
factory calls). Every endpoint takes the common filters: start, end (ISO-8601 or epoch seconds), user,
machine, machine_type, role, affiliation, size (each repeatable), direction=rd|wr|both, tz.

Errors are JSON with "error" and "parameter": a BadParameter is a 400 naming its parameter; an unknown user or
machine, or a path under /api that is no endpoint, a 404; a method other than GET a 405; a database that cannot
be reached a 503. Anything else is a bug: a 500 saying only "internal error" and a reference, logged with its
traceback under the same reference.
"""

from __future__ import annotations

import csv
import io
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, NotFound

from clusterdash.db import query, sizes
from clusterdash.db.filters import Filters
from clusterdash.db.jobs.records import JOB_ID
from clusterdash.errors import BadParameter, database_unreachable
from clusterdash.web.format import csv_cell

MAX_LIMIT = 1_000_000

log = logging.getLogger(__name__)


def api_blueprint(engine_provider: Callable[[], Engine], default_tz: str = "UTC") -> Blueprint:
    """A Flask Blueprint serving /api/... from the database `engine_provider()` returns (called per request,
    so the engine can be created lazily or swapped in tests).

    default_tz: the display zone when a request gives no `tz`. The database must have been prepared
    (db.setup.prepare_database: the app factory does it at start-up, as do `clusterdash init` and `ingest`); a
    request never creates tables or builds rollups. Without complete rollups, and for series in a zone other
    than the rollups', the queries read whole rollup periods where they fit and the raw tables elsewhere.

    Example:
        prepare_database(engine, "Europe/Zurich")  # at start-up
        server = flask.Flask(__name__)
        server.register_blueprint(api_blueprint(lambda: engine, default_tz="Europe/Zurich"))
    """
    bp = Blueprint("clusterdash_api", __name__, url_prefix="/api")

    def connect():
        return engine_provider().connect()

    def filters() -> Filters:
        f = Filters.from_args(request.args, default_tz=default_tz)
        if not f.sizes:
            return f
        with connect() as conn:
            return f.with_(sizes=_stored_labels(f.sizes, [b["label"] for b in query.size_buckets(conn)]))

    @bp.get("/stats")
    def stats():
        _no_csv()
        f = filters()  # before connecting: filters() may read the stored size buckets on a connection of its own
        with connect() as conn:
            return jsonify(query.stats(conn, f))

    @bp.get("/users")
    def users():
        f, sort, order, limit = filters(), *_sorting()
        with connect() as conn:
            rows = query.users_table(conn, f, sort=sort, order=order, limit=limit)
        return _respond({"range": _range_of(f), "users": rows}, rows)

    @bp.get("/machines")
    def machines():
        f, sort, order, limit = filters(), *_sorting()
        with connect() as conn:
            rows = query.machines_table(conn, f, sort=sort, order=order, limit=limit)
        return _respond({"range": _range_of(f), "machines": rows}, rows)

    @bp.get("/usage/user/<username>")
    def user_usage(username: str):
        _no_csv()
        f = filters()
        with connect() as conn:
            profile = query.user_profile(conn, username, f) if _plausible(username) else None
        if profile is None:
            return _error(404, f"user: no user named {username[:100]!r}", "user")
        return jsonify(profile)

    @bp.get("/usage/machine/<machine_name>")
    def machine_usage(machine_name: str):
        _no_csv()
        f = filters()
        with connect() as conn:
            profile = query.machine_profile(conn, machine_name, f) if _plausible(machine_name) else None
        if profile is None:
            return _error(404, f"machine: no machine named {machine_name[:100]!r}", "machine")
        return jsonify(profile)

    @bp.get("/usage/time")
    def usage_time():
        f = filters()
        bucket = _choice("bucket", query.BUCKETS, None)
        group_by = _choice("group_by", query.GROUP_BYS, "none")
        top = _integer("top", 10, 1, 1000)
        with connect() as conn:
            series = query.time_series(conn, f, bucket=bucket, group_by=group_by, top=top)
        return _respond(series, series["points"])

    @bp.get("/usage/size")
    def usage_size():
        f = filters()
        with connect() as conn:
            sizes = query.size_distribution(conn, f)
        return _respond(sizes, sizes["buckets"])

    @bp.get("/jobs")
    def jobs():
        f = filters()
        sort = _choice("sort", query.JOB_SORTS, "operations")
        order = _choice("order", ("asc", "desc"), "desc")
        limit = _integer("limit", 100, 0, MAX_LIMIT)
        running = _choice("running", ("true", "false"), "false") == "true"
        with connect() as conn:
            answer = (query.running_jobs if running else query.jobs_table)(conn, f, sort=sort, order=order, limit=limit)
        return _respond(answer, answer["jobs"])

    @bp.get("/usage/job/<job_id>")
    def job_usage(job_id: str):
        _no_csv()
        f = filters()
        with connect() as conn:
            profile = query.job_profile(conn, job_id, f) if JOB_ID.match(job_id) else None
        if profile is None:
            return _error(404, f"job: no job {job_id[:100]!r}", "job")
        return jsonify(profile)

    @bp.get("/openapi.json")
    def openapi():
        from clusterdash.web.openapi import openapi_document

        try:  # examples of names that exist here; the document itself never depends on the database
            with connect() as conn:
                user, machine = query.example_names(conn)
                job = query.example_job(conn)
        except SQLAlchemyError:
            user = machine = job = None
        return jsonify(openapi_document(user_example=user, machine_example=machine, job_example=job))

    @bp.before_app_request
    def only_the_api_under_api():
        """Dash's catch-all route would answer any other path under /api with the dashboard's page."""
        if request.url_rule is not None and request.blueprint != bp.name and _under_api(request.path):
            raise NotFound()

    @bp.errorhandler(BadParameter)
    def bad_parameter(exc: BadParameter):
        return _error(400, str(exc), exc.name)

    @bp.errorhandler(Exception)
    def unexpected(exc: Exception):
        if isinstance(exc, HTTPException):  # raised by Flask inside a view: its own status, as JSON
            return _http_error(exc)
        if database_unreachable(exc):
            return _error(503, "database unavailable: " + str(getattr(exc, "orig", exc)).splitlines()[0][:200], None)
        reference = uuid.uuid4().hex[:12]
        log.error("internal error %s in %s %s", reference, request.method, request.full_path[:300], exc_info=exc)
        return _error(500, "internal error", None, reference=reference)

    @bp.app_errorhandler(404)
    @bp.app_errorhandler(405)
    def http_error(exc: HTTPException):
        if _under_api(request.path):
            return _http_error(exc)
        return exc

    return bp


def register_api(server: Flask, engine: Engine, settings: Mapping[str, Any]) -> None:
    """Mount the API on `server` for `engine`, a database prepared in the display zone `settings['tz']` (the app
    factory prepares it first)."""
    server.register_blueprint(api_blueprint(lambda: engine, default_tz=str(settings.get("tz") or "UTC")))


# -- arguments -----------------------------------------------------------------------------------------------


def _single(name: str) -> str | None:
    values = [v for v in request.args.getlist(name) if v.strip()]
    if len(values) > 1:
        raise BadParameter(name, "give it at most once")
    return values[0].strip() if values else None


def _choice(name: str, allowed, default):
    value = _single(name)
    if value is None:
        return default
    if value not in allowed:
        raise BadParameter(name, f"must be one of {', '.join(allowed)}, not {value[:30]!r}")
    return value


def _integer(name: str, default: int | None, low: int, high: int) -> int | None:
    value = _single(name)
    if value is None:
        return default
    if not value.lstrip("-").isdigit() or len(value) > 12:
        raise BadParameter(name, f"must be a whole number, not {value[:30]!r}")
    number = int(value)
    if not low <= number <= high:
        raise BadParameter(name, f"must be between {low} and {high}")
    return number


def _sorting() -> tuple[str, str, int | None]:
    return (
        _choice("sort", query.USER_SORTS, "operations"),
        _choice("order", ("asc", "desc"), "desc"),
        _integer("limit", None, 0, MAX_LIMIT),
    )


def _stored_labels(given: tuple[str, ...], known: list[str]) -> tuple[str, ...]:
    """The stored bucket labels the `size` values name ('4K', '4096', '[4K, 8K)', '4K-8K'); BadParameter listing
    the stored labels for a value that names none (never a silently empty answer)."""
    labels = []
    for text in given:
        label = sizes.bucket_label(text, known)
        if label is None:
            stored = ", ".join(known) if known else "none yet"
            raise BadParameter(
                "size",
                f"no size bucket {text[:30]!r}: give a bucket's label or its lower bound, e.g. [4K, 8K), 4K, 4096 or "
                f"4K-8K (stored buckets: {stored})",
            )
        labels.append(label)
    return tuple(dict.fromkeys(labels))


def _format() -> str:
    return _choice("format", ("json", "csv"), "json")


def _no_csv() -> None:
    if _format() == "csv":
        raise BadParameter(
            "format", "csv is offered by the list and series endpoints (users, machines, jobs, usage/time, usage/size)"
        )


def _plausible(name: str) -> bool:
    """Whether a stored name could be this: the name columns hold 255 characters and never NUL (which
    PostgreSQL would refuse even to compare)."""
    return 0 < len(name) <= 255 and "\x00" not in name


def _under_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def _range_of(f: Filters) -> dict[str, Any]:
    return {"start_epoch": f.start, "end_epoch": f.end, "tz": f.tz}


# -- responses -----------------------------------------------------------------------------------------------


def _respond(document: dict, rows: list[dict]) -> Response:
    if _format() == "json":
        return jsonify(document)
    buffer = io.StringIO()
    columns = list(rows[0]) if rows else []
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in rows)
    return Response(buffer.getvalue(), mimetype="text/csv", headers={"Content-Disposition": "inline"})


def _error(status: int, message: str, parameter: str | None, **more: str) -> Response:
    response = jsonify({"error": message, "parameter": parameter, **more})
    response.status_code = status
    return response


def _http_error(exc: HTTPException) -> Response:
    """A 404, 405 (with its Allow header) or other HTTP error under /api, as JSON."""
    status = exc.code or 500
    if status == 405:
        response = _error(405, f"method {request.method} not allowed here: the API answers GET", None)
    elif status == 404:
        response = _error(404, f"no such endpoint: {request.path[:200]} (the endpoints: /api/openapi.json)", None)
    else:
        response = _error(status, exc.name, None)
    for name, value in exc.get_headers():
        if name.lower() == "allow":
            response.headers[name] = value
    return response
