"""Commands that manage who may sign in and what they see: `user` (accounts, roles, passwords, cluster usernames)
and `token` (API tokens for scripts). Whoever can run them on the database is an admin: they are the way in.

Options in, library calls out: hashing and checks in clusterdash/auth/, SQL in db/accounts.py.
"""

from __future__ import annotations

import getpass
import sys
import time

import click

from clusterdash.cli.base import cli, echo_rows, friendly_errors

ROLES = ("admin", "staff", "user")


def _now() -> int:
    return int(time.time())


def _engine(obj):
    from clusterdash.db.setup import prepare_database

    engine = obj.engine()
    prepare_database(engine, "UTC", keep_zone=True)  # the accounts tables, on a database from before them
    return engine


def _new_password(from_stdin: bool) -> str:
    """A new password: the first line of stdin, or typed twice at a terminal; checked (auth.passwords)."""
    from clusterdash.auth.passwords import check_new_password

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password")
    else:
        raise click.UsageError("stdin is not a terminal: give --password-stdin (the password on its first line)")
    return check_new_password(password)


def _login(value: str) -> str:
    from clusterdash.auth.roles import check_login

    return check_login(value, "LOGIN")


def _when(epoch: int | None) -> str:
    from clusterdash.db.timefmt import iso_utc

    return iso_utc(epoch) if epoch is not None else "-"


def _no_account(login: str, add: str | None = None) -> click.ClickException:
    """The error for a login with no account: pointing to the list, or (`add`: the options to suggest) to adding it."""
    if add is None:
        return click.ClickException(f"no account {login!r} (see `clusterdash user list`)")
    return click.ClickException(
        f"no account {login!r}: add one first (`clusterdash user add {login} --role user {add}`)"
    )


@cli.group()
def user():
    """Accounts: who may sign in, with which role, and whose IO a `user` sees.

    Roles: admin and staff see everything (an admin also manages accounts and tokens); a user sees only the IO
    of their cluster usernames (their login, unless `user map` names others). With --auth local the accounts
    hold the passwords; with ldap or proxy an account is optional: it sets a role, a mapping, or disables a
    login (add it with --no-password).

    \b
    Example:
      clusterdash user add alice --role user
      clusterdash user map alice alice alice_gpu
      clusterdash user list
    """


@user.command("add")
@click.argument("login")
@click.option("--role", type=click.Choice(ROLES), required=True, help="admin, staff or user.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--no-password", is_flag=True, help="No local password: a login signed in by the directory or the proxy.")
@click.option("--display-name", default="", help="The name shown in the page header (default: the login).")
@click.pass_obj
@friendly_errors
def user_add(obj, login, role, password_stdin, no_password, display_name):
    """Add an account. Without --password-stdin or --no-password, asks for the password twice (at least 12
    characters).

    \b
    Example:
      clusterdash user add alice --role user
      printf '%s\\n' "$PASSWORD" | clusterdash user add ops --role admin --password-stdin
      clusterdash user add bob --role staff --no-password      # bob signs in through LDAP
    """
    from clusterdash.auth.passwords import hash_password
    from clusterdash.db.accounts import add_account

    login = _login(login)
    if no_password and password_stdin:
        raise click.UsageError("--no-password and --password-stdin exclude each other")
    password_hash = None if no_password else hash_password(_new_password(password_stdin))
    add_account(_engine(obj), login, role, password_hash, display_name.strip()[:255], _now())
    click.echo(f"added {login} ({role}{', no local password' if no_password else ''})")


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@friendly_errors
def user_list(obj, as_json):
    """List the accounts: login, role, whose IO they see, whether they have a local password.

    \b
    Example:
      clusterdash user list --json
    """
    from clusterdash.db.accounts import list_accounts

    with _engine(obj).connect() as conn:
        accounts = list_accounts(conn)
    rows = [
        {
            "login": a.login,
            "role": a.role,
            "display_name": a.display_name,
            "sees": "everything" if a.role != "user" else list(a.usernames or (a.login,)),
            "local_password": a.password_hash is not None,
            "disabled": a.disabled,
            "updated": _when(a.updated_at),
        }
        for a in accounts
    ]

    def line(r: dict) -> str:
        sees = r["sees"] if isinstance(r["sees"], str) else ", ".join(r["sees"])
        notes = ("" if r["local_password"] else ", no local password") + (", DISABLED" if r["disabled"] else "")
        return f"{r['login']:<20} {r['role']:<6} sees {sees}{notes}"

    echo_rows(rows, as_json, "no accounts (add one with `clusterdash user add LOGIN --role admin`)", line)


@user.command("passwd")
@click.argument("login")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.pass_obj
@friendly_errors
def user_passwd(obj, login, password_stdin):
    """Set an account's password; its sessions end (it signs in again).

    \b
    Example:
      clusterdash user passwd alice
    """
    from clusterdash.auth.passwords import hash_password
    from clusterdash.db.accounts import update_account

    password_hash = hash_password(_new_password(password_stdin))
    if not update_account(_engine(obj), login, _now(), password_hash=password_hash):
        raise _no_account(login)
    click.echo(f"password of {login} changed; its sessions have ended")


@user.command("role")
@click.argument("login")
@click.argument("role", type=click.Choice(ROLES))
@click.pass_obj
@friendly_errors
def user_role(obj, login, role):
    """Change an account's role; its sessions end.

    \b
    Example:
      clusterdash user role alice staff
    """
    from clusterdash.db.accounts import update_account

    if not update_account(_engine(obj), login, _now(), role=role):
        raise _no_account(login)
    click.echo(f"{login} is now {role}; its sessions have ended")


@user.command("disable")
@click.argument("login")
@click.option("--enable", is_flag=True, help="Allow the login to sign in again.")
@click.pass_obj
@friendly_errors
def user_disable(obj, login, enable):
    """Stop a login from signing in (whatever the auth mode), ending its sessions; its tokens stop working too.
    --enable undoes it.

    \b
    Example:
      clusterdash user disable bob
      clusterdash user disable bob --enable
    """
    from clusterdash.db.accounts import update_account

    if not update_account(_engine(obj), login, _now(), disabled=not enable):
        raise _no_account(login, "--no-password")
    click.echo(f"{login} {'may sign in again' if enable else 'is disabled; its sessions have ended'}")


@user.command("remove")
@click.argument("login")
@click.pass_obj
@friendly_errors
def user_remove(obj, login):
    """Remove an account, its cluster usernames and its API tokens; its sessions end.

    \b
    Example:
      clusterdash user remove alice
    """
    from clusterdash.db.accounts import remove_account

    if not remove_account(_engine(obj), login):
        raise _no_account(login)
    click.echo(f"removed {login}, its cluster usernames and its tokens")


@user.command("map")
@click.argument("login")
@click.argument("cluster_usernames", nargs=-1)
@click.pass_obj
@friendly_errors
def user_map(obj, login, cluster_usernames):
    """Set whose IO a `user` sees: the cluster usernames (as in the log) that are theirs, replacing any before.
    With none, the login itself again. Its sessions end (they pick up the new scope).

    \b
    Example:
      clusterdash user map alice alice alice_gpu     # alice sees the IO of both names
      clusterdash user map alice                     # alice sees her own login's IO again
    """
    from clusterdash.db.accounts import set_usernames, usernames_in_log

    names = [n.strip() for n in cluster_usernames if n.strip()]
    if any(len(n) > 255 for n in names):
        raise click.BadParameter("a cluster username is at most 255 characters", param_hint="CLUSTER_USERNAMES")
    engine = _engine(obj)
    if not set_usernames(engine, login, names, _now()):
        raise _no_account(login, "[--no-password]")
    click.echo(f"{login} sees the IO of {', '.join(sorted(set(names))) or login + ' (the login)'}")
    with engine.connect() as conn:
        unseen = sorted(set(names or [login]) - usernames_in_log(conn, names or [login]))
    if unseen:
        click.echo(f"note: no IO stored yet for {', '.join(unseen)} (a typo?)", err=True)


@cli.group()
def token():
    """API tokens for scripts: `Authorization: Bearer <token>` on /api requests. A token acts as its owner,
    with the owner's role and scope as they are when it is used; it is stored hashed and shown once.

    \b
    Example:
      clusterdash token create --user alice --expires 90d --name nightly-report
      curl -H "Authorization: Bearer $TOKEN" https://clusterdash.example.edu/api/users
    """


@token.command("create")
@click.option("--user", "login", required=True, help="The account the token acts as.")
@click.option("--expires", default="90d", show_default=True, help="Lifetime: 12h, 90d, 2w, or never.")
@click.option("--name", default="", help="A label, to recognise it in `token list`.")
@click.pass_obj
@friendly_errors
def token_create(obj, login, expires, name):
    """Create a token and print it once (only its hash is kept: copy it now).

    \b
    Example:
      clusterdash token create --user alice --expires 30d --name grafana
    """
    from clusterdash.auth.tokens import expires_at, new_token, parse_lifetime
    from clusterdash.db.accounts import add_token, get_account

    lifetime = parse_lifetime(expires, "--expires")
    engine = _engine(obj)
    with engine.connect() as conn:
        account = get_account(conn, login)
    if account is None:
        raise _no_account(login, "--no-password")
    made, now = new_token(), _now()
    add_token(engine, made.token_id, made.token_hash, login, name.strip()[:100], f"cli:{getpass.getuser()}",
              now, expires_at(now, lifetime))  # fmt: skip
    click.echo(made.token)
    until = "never expires" if lifetime is None else f"expires {_when(expires_at(now, lifetime))}"
    click.echo(f"token {made.token_id} for {login} ({account.role}), {until}: shown once, copy it now", err=True)


@token.command("list")
@click.option("--user", "login", default=None, help="Only this account's tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@friendly_errors
def token_list(obj, login, as_json):
    """List tokens (never the tokens themselves): id, owner, label, created, expires, last used, state.

    \b
    Example:
      clusterdash token list --user alice
    """
    from clusterdash.db.accounts import list_tokens

    now = _now()
    with _engine(obj).connect() as conn:
        found = list_tokens(conn, login)
    rows = [
        {
            "id": t.token_id,
            "user": t.login,
            "name": t.name,
            "created": _when(t.created_at),
            "created_by": t.created_by,
            "expires": _when(t.expires_at) if t.expires_at is not None else "never",
            "last_used": _when(t.last_used_at),
            "state": "revoked"
            if t.revoked_at is not None
            else "expired"
            if t.expires_at is not None and t.expires_at <= now
            else "valid",
        }
        for t in found
    ]
    echo_rows(
        rows,
        as_json,
        "no tokens",
        lambda r: (
            f"{r['id']}  {r['user']:<16} {r['state']:<8} expires {r['expires']:<20} "
            f"last used {r['last_used']:<20} {r['name']}"
        ),
    )


@token.command("revoke")
@click.argument("token_id")
@click.pass_obj
@friendly_errors
def token_revoke(obj, token_id):
    """Revoke a token by its id (the 12 hex digits after cdt_; see `token list`): it stops working at once.

    \b
    Example:
      clusterdash token revoke 0123456789ab
    """
    from clusterdash.db.accounts import revoke_token

    if not revoke_token(_engine(obj), token_id.strip().lower(), _now()):
        raise click.ClickException(f"no valid token {token_id!r} (see `clusterdash token list`)")
    click.echo(f"revoked {token_id}")
