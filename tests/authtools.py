"""What the access-control tests share: apps in each auth mode on the demo database, accounts and tokens, signing
in through the form, every route of an app as a request, crafted callback bodies, and the leak check."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import delete

from clusterdash.auth.passwords import hash_password
from clusterdash.auth.tokens import expires_at, new_token
from clusterdash.db import accounts
from clusterdash.db.schema import ACCOUNT_TABLES, server_secrets
from tests.dbtools import DEMO_ZONE

PASSWORD = "correct horse battery"
LDAP_CONFIG = {"ldap_url": "ldap://127.0.0.1:9", "ldap_user_dn": "uid={login},ou=people,dc=example,dc=edu"}
PROXY_CONFIG = {"trusted_proxies": "10.0.0.0/8"}


def auth_app(url: str, mode: str, **settings):
    from clusterdash.web.app import create_app

    extra = {"ldap": LDAP_CONFIG, "proxy": PROXY_CONFIG}.get(mode, {})
    return create_app({"db": url, "tz": DEMO_ZONE, "refresh": 3600, "auth": mode, **extra, **settings})


def forget_accounts(engine) -> None:
    """Empty the access-control tables (the generated session key stays: apps already made keep using it)."""
    with engine.begin() as conn:
        for table in ACCOUNT_TABLES:
            if table is not server_secrets:
                conn.execute(delete(table))


def add_account(engine, login: str, role: str = "user", usernames=(), password: str | None = PASSWORD) -> None:
    now = int(time.time())
    accounts.add_account(engine, login, role, hash_password(password) if password else None, "", now)
    if usernames:
        accounts.set_usernames(engine, login, usernames, now)


def add_token(engine, login: str, lifetime: int | None = 3600) -> str:
    made, now = new_token(), int(time.time())
    accounts.add_token(engine, made.token_id, made.token_hash, login, "test", "test", now, expires_at(now, lifetime))
    return made.token


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page)[1]


def sign_in(client, login: str, password: str = PASSWORD, next_path: str = "/", base_url: str = "http://localhost"):
    csrf = csrf_of(client.get("/sign-in", base_url=base_url).get_data(as_text=True))
    form = {"login": login, "password": password, "csrf": csrf, "next": next_path}
    return client.post("/sign-in", data=form, base_url=base_url)


# -- every route -------------------------------------------------------------------------------------------------

# Real targets for the routes with variables, so a refusal is not a 404 in disguise.
EXAMPLES = {
    "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>": (
        "/_dash-component-suites/dash/dash-renderer/build/dash_renderer.min.js"
    ),
    "/assets/<path:filename>": "/assets/bootstrap.min.css",
    "/<path:path>": "/user/someone",
}


@dataclass(frozen=True)
class Route:
    rule: str
    endpoint: str
    path: str
    method: str


def every_route(server) -> Iterator[Route]:
    """Each rule of the app's url_map with each of its methods, as a concrete request (so a route added later is
    in the list without anyone remembering it)."""
    for rule in server.url_map.iter_rules():
        path = EXAMPLES.get(rule.rule) or re.sub(r"<[^>]+>", "x", rule.rule)
        for method in sorted(rule.methods):
            yield Route(rule.rule, rule.endpoint, path, method)


# -- crafted callback bodies -------------------------------------------------------------------------------------


def _outputs(output: str):
    if output.startswith(".."):
        return [dict(zip(("id", "property"), p.rsplit(".", 1))) for p in output.strip(".").split("...")]
    component, prop = output.rsplit(".", 1)
    return {"id": component, "property": prop}


def callback_bodies(client, values: dict) -> Iterator[tuple[str, dict]]:
    """A /_dash-update-component body for every server-side callback the app declares (its /_dash-dependencies),
    with `values` for the inputs and states they name ("id.property" -> value; anything else None, and [] for a
    pattern-matching input), each input counted as changed."""
    for dependency in client.get("/_dash-dependencies").get_json():
        if dependency.get("clientside_function"):
            continue

        def item(spec: dict) -> dict | list:
            if spec["id"].startswith("{"):
                return []
            key = f"{spec['id']}.{spec['property']}"
            return {"id": spec["id"], "property": spec["property"], "value": values.get(key)}

        inputs = [item(i) for i in dependency["inputs"]]
        body = {
            "output": dependency["output"],
            "outputs": _outputs(dependency["output"]),
            "inputs": inputs,
            "state": [item(s) for s in dependency["state"]],
            "changedPropIds": [f"{i['id']}.{i['property']}" for i in inputs if isinstance(i, dict)],
        }
        yield dependency["output"], body


def post_callback(client, body: dict):
    return client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")


# -- the leak check ----------------------------------------------------------------------------------------------


def names_found(text: str, names) -> set[str]:
    """Which of `names` appear in `text` as whole names (not inside a longer name)."""
    found = set()
    for name in names:
        if re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])", text):
            found.add(name)
    return found
