"""A tiny WSGI app for the deployment tests: it answers with what reached it, and what clusterdash's proxy
rules make of it. gunicorn serves it behind the recipe's nginx (tests/nginxserver.py).

The JSON answer: `headers` (every HTTP_* variable, by header name), `remote_addr`, `scheme`, and `proxy`:
the login and role `proxy_login` accepted, or its refusal reason. The settings come from the environment
(CLUSTERDASH_TRUSTED_PROXIES, CLUSTERDASH_AUTH_HEADER, ...) through `auth_config`, as in production.
"""

from __future__ import annotations

import json
import os

from clusterdash.auth.proxy import ProxyRefusal, client_address, proxy_login
from clusterdash.auth.settings import AUTH_SETTINGS, auth_config

SETTINGS = auth_config(
    {"auth": "proxy"} | {name: os.environ[s.env] for name, s in AUTH_SETTINGS.items() if s.env in os.environ}
)


def app(environ, start_response):
    headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items() if key.startswith("HTTP_")}
    assert SETTINGS.proxy is not None
    decision = proxy_login(environ.get("REMOTE_ADDR"), headers, SETTINGS.proxy)
    body = {
        "headers": headers,
        "remote_addr": environ.get("REMOTE_ADDR"),
        "scheme": environ.get("wsgi.url_scheme"),
        "client_address": client_address(environ.get("REMOTE_ADDR"), headers, SETTINGS.trusted),
        "proxy": (
            {"refused": decision.reason}
            if isinstance(decision, ProxyRefusal)
            else {"login": decision.login, "role": decision.role and decision.role.value, "groups": decision.groups}
        ),
    }
    data = json.dumps(body).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
