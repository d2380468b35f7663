"""The JSON API: request arguments -> Filters -> db.query -> JSON or CSV. No SQL here.

Mount it with `api_blueprint(engine_provider)` (or `register_api(server, engine, settings)`, which the app
factory calls). Every endpoint takes the parameters of db/vocabulary.py, the dashboard's URL vocabulary: the
filters (start and end, or range; user, machine, machine_type, role, affiliation, size, each repeatable;
direction, tz), and the parameters that shape an answer where they apply (sort, order, limit, bucket, group_by,
top, format) or only change how the dashboard draws (metric); aliases (from, to, dir, type, stack) are the same
parameters. So any dashboard view's query string asks the API the same question.

Errors are JSON with "error" and "parameter": a BadParameter is a 400 naming its parameter (an unknown
parameter, a value that cannot be read, a user, machine, machine type, role, affiliation or size bucket that
nothing stored has); an unknown user or machine on the profile routes, or a path under /api that is no endpoint,
a 404; a method other than GET a 405; a database that cannot be reached a 503. Anything else is a bug: a 500 saying
only "internal error" and a reference, logged with its traceback under the same reference. CSV answers are
attachments whose file name says the range and the filters, with formula-like cells neutralised (web/csvfile.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, NotFound

from clusterdash.db import query, sizes, vocabulary
from clusterdash.db.filters import Filters
from clusterdash.db.jobs.records import JOB_ID
from clusterdash.db.vocabulary import Arguments
from clusterdash.errors import BadParameter, database_unreachable
from clusterdash.web import csvfile, limits
from clusterdash.web.alertsview import AlertsView
from clusterdash.web.answers import CACHE_BYTES, AnswerCache, reuse
from clusterdash.web.limits import error as _error
from clusterdash.web.state import View

MAX_LIMIT = vocabulary.MAX_LIMIT
ALERTS_LIMIT = 200  # alerts listed when no limit is given
JOBS_LIMIT = 100  # jobs listed when no limit is given


def everything() -> tuple[str, ...] | None:
    """The access scope of a blueprint mounted without access control (a benchmark, a script): every user."""
    return None


def api_blueprint(
    engine_provider: Callable[[], Engine],
    default_tz: str = "UTC",
    scope: Callable[[], tuple[str, ...] | None] = everything,
    alerts: AlertsView | None = None,
    answer_bytes: int = CACHE_BYTES,
) -> Blueprint:
    """A Flask Blueprint serving /api/... from the database `engine_provider()` returns (called per request,
    so the engine can be created lazily or swapped in tests).

    scope: the request's access scope, put into every question as Filters.visible_users (the app passes
    web.auth.current_scope: the signed-in principal's usernames, None for everything). A name outside it is
    answered exactly like an unknown one.

    default_tz: the display zone when a request gives no `tz`; alerts: the rules shown by /api/alerts and how its
    links are made (None: no rules, links in UTC); answer_bytes: how many bytes of answers are kept for reuse. The
    database must have been prepared
    (db.setup.prepare_database: the app factory does it at start-up, as do `clusterdash init` and `ingest`); a
    request never creates tables or builds rollups. Without complete rollups, and for series in a zone other
    than the rollups', the queries read whole rollup periods where they fit and the raw tables elsewhere.

    Example:
        prepare_database(engine, "Europe/Zurich")  # at start-up
        server = flask.Flask(__name__)
        server.register_blueprint(api_blueprint(lambda: engine, default_tz="Europe/Zurich"))
    """
    bp = Blueprint("clusterdash_api", __name__, url_prefix="/api")
    # Answers kept until the data changes, with an ETag (web/answers.py); answer_bytes=0 keeps none (a benchmark).
    reused = reuse(engine_provider, scope, AnswerCache(answer_bytes))

    def connect():
        return engine_provider().connect()

    def arguments() -> Arguments:
        """The request's arguments, every one known and readable (else a 400 naming it)."""
        given = vocabulary.read(request.args)
        given.check(default_tz)
        return given

    def filters(conn: Connection, given: Arguments) -> Filters:
        """The question's Filters, its range held to the stored data; sizes as stored labels; every name one that
        something stored has."""
        f = Filters.from_args(given, default_tz=default_tz, latest=lambda: query.latest_block_epoch(conn))
        f = f.with_(visible_users=scope())  # the server's, never the request's
        f = f.held_to(query.data_extent(conn))  # the dashboard's rule: a range holds the hours that have data
        if f.sizes:
            f = f.with_(sizes=_stored_labels(f.sizes, [b["label"] for b in query.size_buckets(conn)]))
        query.check_names(conn, f)
        return f

    @bp.get("/stats")
    def stats():
        given = arguments()
        _no_csv(given)
        with connect() as conn:
            return jsonify(query.stats(conn, filters(conn, given)))

    def listing(kind: str, ask: Callable[..., list[dict]]) -> Response:
        """The users' or machines' list in the range, sorted and cut as asked (JSON or CSV)."""
        given = arguments()
        with connect() as conn:
            f = filters(conn, given)
            rows = ask(conn, f, **_sorting(given))
            return _respond(given, conn, kind, f, {"range": _range_of(f), kind: rows}, rows)

    @bp.get("/users")
    @reused
    def users():
        return listing("users", query.users_table)

    @bp.get("/machines")
    @reused
    def machines():
        return listing("machines", query.machines_table)

    def profile(kind: str, name: str, ask: Callable[[Connection, str, Filters], dict | None], known: bool) -> Response:
        """One user's, machine's or job's profile; a 404 naming the kind when there is none the asker may see (a
        name that cannot be stored, `known` False, is not looked up)."""
        given = arguments()
        _no_csv(given)
        with connect() as conn:
            found = ask(conn, name, filters(conn, given)) if known else None
        if found is None:
            return _error(404, f"{kind}: no {kind} named {name[:100]!r}", kind)
        return jsonify(found)

    @bp.get("/usage/user/<path:username>")
    @reused
    def user_usage(username: str):
        return profile("user", username, query.user_profile, _plausible(username))

    @bp.get("/usage/machine/<path:machine_name>")
    @reused
    def machine_usage(machine_name: str):
        return profile("machine", machine_name, query.machine_profile, _plausible(machine_name))

    @bp.get("/usage/time")
    @reused
    def usage_time():
        given = arguments()
        with connect() as conn:
            f = filters(conn, given)
            series = query.time_series(
                conn, f, bucket=given.choice("bucket"), group_by=given.choice("group_by"), top=given.integer("top")
            )
            return _respond(given, conn, "usage-time", f, series, series["points"])

    @bp.get("/usage/size")
    @reused
    def usage_size():
        given = arguments()
        with connect() as conn:
            f = filters(conn, given)
            answer = query.size_distribution(conn, f)
            return _respond(given, conn, "usage-size", f, answer, answer["buckets"])

    @bp.get("/alerts")
    def alert_listing():
        given = arguments()
        _no_csv(given)
        limit = given.integer("limit", ALERTS_LIMIT)
        if limit is not None and limit > query.MAX_ALERTS:
            raise BadParameter("limit", f"at most {query.MAX_ALERTS} alerts")
        rules, severities = (tuple(dict.fromkeys(given.texts(name))) for name in ("rule", "severity"))
        view = alerts or AlertsView(None, View(tz=default_tz))
        with connect() as conn:
            f = filters(conn, given)
            document = view.document(
                conn, f, given.choice("state"), rules, severities, ALERTS_LIMIT if limit is None else limit
            )
            return jsonify(document)

    @bp.get("/jobs")
    @reused
    def jobs():
        given = arguments()
        sort = given.choice("sort")
        if sort not in query.JOB_SORTS:
            raise BadParameter("sort", f"must be one of {', '.join(query.JOB_SORTS)} for jobs, not {sort!r}")
        limit = given.integer("limit", JOBS_LIMIT)
        running = given.choice("running") == "true"
        with connect() as conn:
            f = filters(conn, given)
            ask = query.running_jobs if running else query.jobs_table
            answer = ask(conn, f, sort=sort, order=given.choice("order"), limit=limit)
            return _respond(given, conn, "jobs", f, answer, answer["jobs"])

    @bp.get("/usage/job/<job_id>")
    @reused
    def job_usage(job_id: str):
        return profile("job", job_id, query.job_profile, JOB_ID.match(job_id) is not None)

    @bp.get("/openapi.json")
    def openapi():
        from clusterdash.web.openapi import openapi_document

        try:  # examples of names that exist here (and the asker may see); the document never depends on the database
            with connect() as conn:
                user, machine = query.example_names(conn, Filters(visible_users=scope()))
                job = query.example_job(conn, Filters(visible_users=scope()))
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
        return limits.internal_error(exc)

    @bp.app_errorhandler(404)
    @bp.app_errorhandler(405)
    def http_error(exc: HTTPException):
        if _under_api(request.path):
            return _http_error(exc)
        return exc

    return bp


def register_api(
    server: Flask,
    engine: Engine,
    settings: Mapping[str, Any],
    scope: Callable[[], tuple[str, ...] | None] = everything,
    alerts: AlertsView | None = None,
) -> None:
    """Mount the API on `server` for `engine`, a database prepared in the display zone `settings['tz']` (the app
    factory prepares it first), answering within `scope()` (see api_blueprint)."""
    server.register_blueprint(
        api_blueprint(lambda: engine, default_tz=str(settings.get("tz") or "UTC"), scope=scope, alerts=alerts)
    )


# -- arguments -----------------------------------------------------------------------------------------------


def _sorting(given: Arguments) -> dict[str, Any]:
    return {"sort": given.choice("sort"), "order": given.choice("order"), "limit": given.integer("limit")}


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


def _no_csv(given: Arguments) -> None:
    if given.choice("format") == "csv":
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


def _respond(given: Arguments, conn: Connection, kind: str, f: Filters, document: dict, rows: list[dict]) -> Response:
    """JSON, or with format=csv the rows as a CSV attachment named by the range and the filters."""
    if given.choice("format") != "csv":
        return jsonify(document)
    columns = list(rows[0]) if rows else []
    start, end = f.hour_range()
    if start is None or end is None:
        extent = query.data_extent(conn)
        if extent is not None:
            start, end = start if start is not None else extent[0], end if end is not None else extent[1]
    name = csvfile.file_name(kind, start, end, f)
    return Response(
        csvfile.csv_text(rows, columns),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


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
