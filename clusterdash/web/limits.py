"""What a request to the server may be, whatever route it takes: the size of its body, the shape of a Dash callback
request, the answer a crafted request gets, and the paths that only their own routes may answer.

The API answers its own errors (web/api.py); everything else on the server comes through here:

* a body over MAX_BODY bytes is a 413 (a real callback request is a few KB);
* a BadParameter anywhere (a callback input or the view store a client sent, checked by the API's rules) is a 400
  `{"error", "parameter"}` naming it, as from the API;
* a callback request Dash cannot take (no JSON object, an output no server callback has, inputs that do not match
  the callback's) is a 400 naming the part (`body`, `output`, `inputs`, `state`) before Dash reads it;
* any other exception is a bug: a 500 with a reference and no details, logged with its traceback;
* under /assets/ and /_dash-component-suites/ only a file that exists answers; anything else (`/assets//x`, a
  traversal attempt) is a 404, never the dashboard's page or a 500.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import dash
import flask
from dash.exceptions import DashException
from werkzeug.exceptions import HTTPException, NotFound

from clusterdash.errors import BadParameter

MAX_BODY = 2**20  # bytes: Flask refuses a longer body with a 413
CALLBACK_ROUTE = "/_dash-update-component"
FILE_PREFIXES = ("/assets/", "/_dash-component-suites/")

log = logging.getLogger(__name__)


def install(app: dash.Dash) -> None:
    """Limits, guards and error answers on the app's Flask server (after Dash has added its routes)."""
    server = app.server
    server.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    suites = next(rule.endpoint for rule in server.url_map.iter_rules() if rule.rule.startswith(FILE_PREFIXES[1]))
    _serve_suites = server.view_functions[suites]

    def serve_suites(*args: Any, **kwargs: Any):
        """Dash raises (a 500) for a path it has not registered or cannot read: that is a file that does not
        exist here."""
        try:
            return _serve_suites(*args, **kwargs)
        except (DashException, OSError, KeyError, ValueError):
            raise NotFound() from None

    server.view_functions[suites] = serve_suites

    @server.before_request
    def guard():
        if request_is_for_a_file() and flask.request.url_rule is not None:
            rule = flask.request.url_rule.rule
            if not rule.startswith(FILE_PREFIXES):  # the dashboard's catch-all: no such file
                raise NotFound()
        if flask.request.path == CALLBACK_ROUTE and flask.request.method == "POST":
            check_callback_body(app, flask.request.get_json(silent=True))

    @server.errorhandler(BadParameter)
    def bad_parameter(exc: BadParameter):
        return error(400, str(exc), exc.name)

    @server.errorhandler(Exception)
    def unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return exc
        return internal_error(exc)


def request_is_for_a_file() -> bool:
    path = flask.request.path
    return path.startswith(FILE_PREFIXES) or path in ("/assets", "/_dash-component-suites")


def check_callback_body(app: dash.Dash, body: Any) -> None:
    """BadParameter unless `body` is a callback request for a server callback of `app`, with the callback's
    inputs and state (the values inside are the callback's to check)."""
    if not isinstance(body, dict):
        raise BadParameter("body", "a callback request is a JSON object")
    output = body.get("output")
    callback = app.callback_map.get(output) if isinstance(output, str) else None
    if callback is None or "callback" not in callback:
        raise BadParameter("output", "names no callback this server runs")
    for part, declared in (("inputs", callback["inputs"]), ("state", callback["state"])):
        given = body.get(part, [])
        if not isinstance(given, list) or len(given) != len(declared):
            raise BadParameter(part, f"must list the callback's {len(declared)} {part}")
        for item, expected in zip(given, declared):
            if isinstance(item, list) and expected["id"].startswith("{"):  # a pattern-matching input (ALL)
                if all(isinstance(one, dict) and one.get("property") == expected["property"] for one in item):
                    continue
            elif isinstance(item, dict) and item.get("id") == expected["id"]:
                if item.get("property") == expected["property"]:
                    continue
            raise BadParameter(part, f"do not match the callback's: expected {expected['id']}.{expected['property']}")
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        raise BadParameter("changedPropIds", "must be a list of text")
    if not isinstance(body.get("outputs", {}), (dict, list)):
        raise BadParameter("outputs", "must be an object or a list")


def error(status: int, message: str, parameter: str | None, **more: str) -> flask.Response:
    response = flask.jsonify({"error": message, "parameter": parameter, **more})
    response.status_code = status
    return response


def internal_error(exc: BaseException) -> flask.Response:
    """A bug: a 500 that says only "internal error" and a reference; the log has the traceback under it."""
    reference = uuid.uuid4().hex[:12]
    request = flask.request
    log.error("internal error %s in %s %s", reference, request.method, request.full_path[:300], exc_info=exc)
    return error(500, "internal error", None, reference=reference)
