"""Access control's building blocks, free of Flask and Dash, one job per module.

- roles: Role, Principal, access_scope (None = everything, else the cluster usernames a user may see)
- outcomes: what a sign-in comes to (Identity, BadCredentials, Unavailable, Throttled)
- passwords: argon2id hashes for local accounts; a dummy verify for unknown logins
- local: local accounts checked through a lookup function (no SQL here)
- ldap: sign-in against a directory (ldap3), with roles from group membership
- proxy: a login (and groups) from a trusted reverse proxy's headers
- tokens: API tokens (cdt_...), stored as sha256, presented as Authorization: Bearer
- throttle: backoff after failed sign-ins, per login and per client address
- signin: one sign-in attempt: throttle, authenticate, record
- audit: the audit trail's events and the log sink
- settings: the CLUSTERDASH_* declarations and their conversion into the values above
"""
