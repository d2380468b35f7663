"""What sign-in adds to a request: the same cheap request (a reused API answer, and Dash's /_dash-dependencies)
without sign-in, with a session cookie, and with an API token, through the real app in one process, paired round
by round so the machine's drift cancels out.

    python scripts/bench_auth.py                     # on bench-data/loadtest/year.db (scripts/loadtest.py builds it)
    python scripts/bench_auth.py --db sqlite:///x.db --rounds 30

Prints, per route, the median time of a request in each mode and the median of the paired differences; the target
(issue 13) is at most 2 ms added by a sign-in. The first request of a session reads its account (then kept
PRINCIPAL_TTL seconds); the figures are of the requests after it, as a dashboard sends them.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clusterdash.auth.passwords import hash_password  # noqa: E402
from clusterdash.auth.tokens import new_token  # noqa: E402
from clusterdash.db import accounts  # noqa: E402
from clusterdash.db.engine import make_engine  # noqa: E402
from clusterdash.web.app import create_app  # noqa: E402

PASSWORD = "bench-auth-password"
ROUTES = ("/api/users?limit=5", "/_dash-dependencies")


def clients(url: str):
    engine = make_engine(url)
    now = int(time.time())
    if not accounts.remove_account(engine, "bench-auth"):
        pass
    accounts.add_account(engine, "bench-auth", "staff", hash_password(PASSWORD), "", now)
    made = new_token()
    accounts.add_token(engine, made.token_id, made.token_hash, "bench-auth", "bench", "bench", now, None)
    plain = create_app({"db": url, "auth": "none"}).server.test_client()
    signed = create_app({"db": url, "auth": "local"}).server
    session = signed.test_client()
    csrf = re.search(r'name="csrf" value="([^"]+)"', session.get("/sign-in").get_data(as_text=True))[1]
    session.post("/sign-in", data={"login": "bench-auth", "password": PASSWORD, "csrf": csrf, "next": "/"})
    token = signed.test_client()
    token.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {made.token}"
    return engine, {"none": plain, "session": session, "token": token}


def timed(client, route: str, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        response = client.get(route)
        assert response.status_code == 200, (route, response.status_code)
    return (time.perf_counter() - started) * 1000 / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=f"sqlite:///{ROOT / 'bench-data' / 'loadtest' / 'year.db'}")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--per-round", type=int, default=50, help="requests per mode and round")
    args = parser.parse_args()
    engine, modes = clients(args.db)
    try:
        for route in ROUTES:
            for client in modes.values():  # warm: the answer kept, the principal read once
                timed(client, route, 20)
            times: dict[str, list[float]] = {mode: [] for mode in modes}
            for _ in range(args.rounds):
                for mode, client in modes.items():
                    times[mode].append(timed(client, route, args.per_round))
            base = times["none"]
            print(f"{route}: median per request " + ", ".join(
                f"{mode} {statistics.median(t):.3f} ms" for mode, t in times.items()))  # fmt: skip
            for mode in ("session", "token"):
                added = statistics.median(a - b for a, b in zip(times[mode], base))
                print(f"  sign-in by {mode} adds {added:.3f} ms (median of {args.rounds} paired rounds)")
    finally:
        accounts.remove_account(engine, "bench-auth")
        engine.dispose()


if __name__ == "__main__":
    main()
