"""Access control's tables: accounts and their cluster usernames, API tokens, sign-in throttling, the audit trail,
and the secrets the server generates for itself. All SQL on them lives in db/accounts.py.

A login is who signs in (a local account, a directory or SSO login); a cluster username is a name in the log.
A `user` sees the IO of their mapped cluster usernames, or of their login when none is mapped. Accounts are
optional for ldap and proxy sign-ins (the directory or the proxy says who it is): a row there sets a role,
disables a login or carries a mapping. Times are UTC epoch seconds.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Column, Float, Index, Integer, String, Table

from clusterdash.db.schema.base import metadata

ROLES = ("admin", "staff", "user")
LOGIN_LENGTH = 128  # auth.roles.MAX_LOGIN_LENGTH
NAME_LENGTH = 255  # as wide as a name in the log

accounts = Table(
    "Accounts",
    metadata,
    Column("login", String(LOGIN_LENGTH), primary_key=True),
    Column("role", String(8), nullable=False),
    Column("password_hash", String(255)),  # argon2id, encoded; NULL: no local password (ldap, proxy)
    Column("display_name", String(NAME_LENGTH), nullable=False, default=""),
    Column("disabled", Boolean, nullable=False, default=False),
    # Raised by every change that must end the account's sessions (password, role, mapping, disabling): a
    # session remembers the version it began with, and a different one signs it out.
    Column("session_version", Integer, nullable=False, default=1),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    CheckConstraint(f"role IN ({', '.join(repr(r) for r in ROLES)})", name="ck_accounts_role"),
)

# Which cluster usernames (as in the log) a login's IO is; none: the login itself.
account_usernames = Table(
    "AccountUsernames",
    metadata,
    Column("login", String(LOGIN_LENGTH), primary_key=True),
    Column("cluster_username", String(NAME_LENGTH), primary_key=True),
)
Index("ix_account_usernames_username", account_usernames.c.cluster_username)

# API tokens, stored as sha256(token) (auth/tokens.py says why not a KDF).
api_tokens = Table(
    "ApiTokens",
    metadata,
    Column("token_id", String(12), primary_key=True),  # the token's public part, hex
    Column("token_hash", String(64), nullable=False),
    Column("login", String(LOGIN_LENGTH), nullable=False),  # the owner: the token acts with their role and scope
    Column("name", String(100), nullable=False, default=""),
    Column("created_by", String(LOGIN_LENGTH), nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger),  # NULL: never
    Column("revoked_at", BigInteger),
    Column("last_used_at", BigInteger),  # written at most once a minute per token
)
Index("ix_api_tokens_login", api_tokens.c.login)

# Failed sign-ins per login and per client address (auth/throttle.py keys them), shared by every worker.
auth_throttle = Table(
    "AuthThrottle",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure", Float, nullable=False),  # epoch seconds with their fraction: the backoff is in seconds
)
Index("ix_auth_throttle_last", auth_throttle.c.last_failure)  # forgetting old records reads only those

auth_audit = Table(
    "AuthAudit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("login", String(200), nullable=False, default=""),  # as presented, cut: it may be hostile
    Column("address", String(64), nullable=False, default=""),
    Column("method", String(16), nullable=False, default=""),
    Column("detail", String(500), nullable=False, default=""),
)
Index("ix_auth_audit_at", auth_audit.c.at)

# Values the server makes once and keeps (the session cookie key when none is configured).
server_secrets = Table(
    "ServerSecrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

ACCOUNT_TABLES = (accounts, account_usernames, api_tokens, auth_throttle, auth_audit, server_secrets)
