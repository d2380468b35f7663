"""API answers reused until the data changes (web/answers.py), on SQLite and PostgreSQL: an ETag of the question, the
scope and the data version; a 304 for a client that holds the answer; a new hour changes both; two scopes never
share an answer; the cache stays within its bytes."""

from __future__ import annotations

from clusterdash.web.answers import AnswerCache, Kept
from tests.authtools import add_account, add_token, auth_app, forget_accounts
from tests.logtools import block

HOUR = 3600
START = 1_741_784_415


def hour(i: int) -> str:
    entries = {
        ("rd", "tikgpu01", "ann"): {"[4K, 8K)": 3 + i},
        ("wr", "tikgpu02", "ben"): {"[1M, 2M)": 2},
        ("rd", "tikgpu02", "cid"): {"[512, 1K)": 7},
    }
    return block(START + i * HOUR, entries)


def test_an_answer_is_reused_until_the_next_hour_arrives(tmp_path, db_url, run_cli, engine):
    log = tmp_path / "io_usage.log"
    log.write_text(hour(0) + hour(1))
    assert run_cli("ingest", str(log)).exit_code == 0
    forget_accounts(engine)
    add_account(engine, "ann", "user", password=None)
    add_account(engine, "ops", "admin", password=None)
    client = auth_app(db_url, "local").server.test_client()
    ann, ops = ({"Authorization": f"Bearer {add_token(engine, login)}"} for login in ("ann", "ops"))

    first = client.get("/api/usage/time?group_by=user", headers=ann)
    etag = first.headers["ETag"]
    assert first.status_code == 200 and first.headers["Cache-Control"] == "private, no-cache"
    again = client.get("/api/usage/time?group_by=user", headers=ann)
    assert again.headers["ETag"] == etag and again.data == first.data
    held = client.get("/api/usage/time?group_by=user", headers={**ann, "If-None-Match": etag})
    assert held.status_code == 304 and not held.data
    # Another scope asking the same question gets its own answer and its own tag.
    admins = client.get("/api/usage/time?group_by=user", headers=ops)
    assert admins.headers["ETag"] != etag and {"ann", "ben", "cid"} <= set(admins.get_json()["groups"])
    assert first.get_json()["groups"] == ["ann"]
    assert client.get("/api/usage/time?group_by=user", headers={**ops, "If-None-Match": etag}).status_code == 200
    # A CSV is kept with its disposition; an error is never kept nor tagged.
    csv = [client.get("/api/users?format=csv", headers=ann) for _ in range(2)]
    assert csv[0].data == csv[1].data and csv[1].mimetype == "text/csv" and csv[1].headers["Content-Disposition"]
    assert "ETag" not in client.get("/api/usage/user/ben", headers=ann).headers

    with log.open("a") as f:
        f.write(hour(2))
    assert run_cli("ingest", str(log)).exit_code == 0
    changed = client.get("/api/usage/time?group_by=user", headers={**ann, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.get_json()["range"]["hours"] == first.get_json()["range"]["hours"] + 1
    forget_accounts(engine)


def test_the_cache_keeps_the_newest_answers_within_its_bytes():
    cache = AnswerCache(limit=1200)
    for i in range(10):
        cache.put(("q", i), Kept(b"x" * 300, "application/json", ()))
    assert cache.bytes <= 1200 and len(cache) == 4
    assert cache.get(("q", 9)) is not None and cache.get(("q", 0)) is None
    cache.put(("big",), Kept(b"x" * 400, "application/json", ()))  # more than a quarter: not kept
    assert cache.get(("big",)) is None
