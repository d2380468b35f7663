"""Access control's building blocks on their own: passwords, tokens, roles, proxy trust, throttling, sign-in.

LDAP against a real slapd is in test_auth_ldap.py, the settings in test_auth_settings.py, and the deployment
recipe (real nginx, real gunicorn) in test_deploy.py.
"""

from __future__ import annotations

import hashlib
import logging
import re

import pytest
from argon2 import PasswordHasher

from clusterdash.auth import passwords, tokens
from clusterdash.auth.audit import AuditEvent, AuditKind
from clusterdash.auth.ldap import LdapAuthenticator, LdapSettings
from clusterdash.auth.local import LocalAccount, LocalAuthenticator
from clusterdash.auth.outcomes import BadCredentials, Identity, Throttled, Unavailable
from clusterdash.auth.proxy import ProxyLogin, ProxyRefusal, ProxySettings, client_address, parse_trusted_proxies
from clusterdash.auth.proxy import proxy_login as decide
from clusterdash.auth.roles import (
    NO_AUTH,
    Principal,
    Role,
    access_scope,
    can_manage_accounts,
    check_login,
    principal,
    role_from_groups,
)
from clusterdash.auth.signin import sign_in
from clusterdash.auth.throttle import MemoryThrottleStore, Policy, Throttle, address_key
from clusterdash.errors import BadParameter
from tests.browser import free_port

# Cheap parameters for tests that hash many times; the production parameters are tested where they matter.
FAST = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)


class FakeClock:
    """Time that moves only when the test says so (the throttle takes its clock as a parameter)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --- passwords


def test_a_password_verifies_against_its_hash_and_nothing_else():
    stored = passwords.hash_password("correct horse battery staple")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")  # the named production parameters
    assert passwords.verify_password(stored, "correct horse battery staple") == passwords.Verified(True, False)
    assert not passwords.verify_password(stored, "correct horse battery stapl").ok
    assert passwords.hash_password("correct horse battery staple") != stored  # salted


def test_a_hash_made_with_older_parameters_verifies_and_asks_to_be_replaced():
    old = passwords.hash_password("an old passphrase here", hasher=FAST)
    verified = passwords.verify_password(old, "an old passphrase here")
    assert verified.ok and verified.needs_rehash
    assert not passwords.verify_password(old, "another passphrase").needs_rehash  # only a match is rehashed


def test_the_same_passphrase_composed_differently_verifies():
    stored = passwords.hash_password("Ångström passphrase", hasher=FAST)
    decomposed = "A\u030angstro\u0308m passphrase"
    assert decomposed != "Ångström passphrase"
    assert passwords.verify_password(stored, decomposed, hasher=FAST).ok


def test_a_damaged_hash_refuses_and_says_so_in_the_log(caplog):
    with caplog.at_level(logging.ERROR, logger="clusterdash.auth"):
        assert not passwords.verify_password("$argon2id$garbage", "whatever").ok
    assert "not a valid argon2 hash" in caplog.text


def test_new_passwords_are_checked_with_a_reason():
    assert passwords.check_new_password("twelve chars") == "twelve chars"
    for bad, reason in (("short", "too short"), ("x" * 1025, "too long"), ("a long passphrase\n", "whitespace")):
        with pytest.raises(BadParameter, match=reason) as caught:
            passwords.check_new_password(bad)
        assert caught.value.name == "password"
    assert not passwords.verify_password(passwords.hash_password("x" * 20, FAST), "x" * 2000, FAST).ok


class RecordingHasher(PasswordHasher):
    """argon2's own hasher, noting the parameters of every hash it verifies against."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8 * 1024, parallelism=1)
        self.verified: list[str] = []

    def verify(self, hash, password):
        self.verified.append(re.sub(r"\$[^$]*\$[^$]*$", "", hash))  # the parameters, without salt and digest
        return super().verify(hash, password)


def test_an_unknown_login_costs_the_same_argon2_work_as_a_wrong_password():
    hasher = RecordingHasher()
    accounts = {"alice": LocalAccount("alice", passwords.hash_password("alice passphrase", hasher), Role.USER)}
    authenticate = LocalAuthenticator(accounts.get, hasher=hasher)
    hasher.verified.clear()
    assert authenticate("alice", "wrong passphrase") == BadCredentials("wrong password")
    assert authenticate("mallory", "wrong passphrase") == BadCredentials("unknown login")
    assert len(hasher.verified) == 2 and hasher.verified[0] == hasher.verified[1]  # one check each, same cost


def test_local_sign_in_returns_the_account_and_rehashes_old_hashes():
    accounts = {
        "alice": LocalAccount("alice", passwords.hash_password("alice passphrase", FAST), Role.ADMIN, "Alice L"),
        "bob": LocalAccount("bob", passwords.hash_password("bob passphrase", FAST), Role.USER, disabled=True),
    }
    rehashed: dict[str, str] = {}
    authenticate = LocalAuthenticator(accounts.get, rehashed.__setitem__)  # production parameters
    assert authenticate("alice", "alice passphrase") == Identity("alice", "local", Role.ADMIN, "Alice L")
    assert rehashed["alice"].startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert passwords.verify_password(rehashed["alice"], "alice passphrase").ok
    assert authenticate("bob", "bob passphrase") == BadCredentials("account disabled")


# --- tokens


def test_a_new_token_is_recognisable_random_and_stored_only_as_its_sha256():
    first, second = tokens.new_token(), tokens.new_token()
    assert re.fullmatch(r"cdt_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", first.token)
    assert first.token != second.token and first.token_id != second.token_id
    assert first.token_hash == hashlib.sha256(first.token.encode()).hexdigest()
    assert first.token_id == first.token[4:16]
    assert first.token not in repr(first) and first.token not in repr(tokens.parse_token(first.token))


def test_the_bearer_header_is_parsed_and_other_schemes_are_left_alone():
    token = tokens.new_token().token
    assert tokens.bearer_token(None) is None and tokens.bearer_token("") is None
    assert tokens.bearer_token("Basic YWxpY2U6c2VjcmV0") is None  # a proxy's own sign-in: not ours
    for header in (f"Bearer {token}", f"bearer  {token} ", f"BEARER {token}"):
        presented = tokens.bearer_token(header)
        assert isinstance(presented, tokens.PresentedToken) and presented.token == token
    for header in ("Bearer", "Bearer abc", f"Bearer {token}x", f"Bearer {token[:-1]}", "Bearer cdt_zz_" + "a" * 43):
        assert tokens.bearer_token(header) is tokens.TokenProblem.MALFORMED, header


def test_a_token_is_checked_secret_first_then_revocation_then_expiry():
    new = tokens.new_token()
    presented = tokens.parse_token(new.token)
    assert presented is not None
    stored = tokens.StoredToken(new.token_id, new.token_hash, "alice", expires_at=2_000)
    assert tokens.check_token(presented, stored, now=1_999) == stored
    assert tokens.check_token(presented, stored, now=2_000) is tokens.TokenProblem.EXPIRED
    assert tokens.check_token(presented, None, now=1_000) is tokens.TokenProblem.UNKNOWN
    revoked = tokens.StoredToken(new.token_id, new.token_hash, "alice", expires_at=None, revoked_at=1_500)
    assert tokens.check_token(presented, revoked, now=1_400) == revoked
    assert tokens.check_token(presented, revoked, now=1_500) is tokens.TokenProblem.REVOKED
    # the same id with another secret learns nothing about the real token's state
    forged = tokens.PresentedToken(new.token_id, f"cdt_{new.token_id}_" + "A" * 43)
    assert tokens.check_token(forged, revoked, now=1_600) is tokens.TokenProblem.UNKNOWN


def test_token_lifetimes_are_hours_days_weeks_or_an_explicit_never():
    assert tokens.parse_lifetime("90d") == 90 * 86400
    assert tokens.parse_lifetime("12h") == 12 * 3600
    assert tokens.parse_lifetime(" 2W ") == 14 * 86400
    assert tokens.parse_lifetime("never") is None
    assert tokens.expires_at(1_000, 3600) == 4_600 and tokens.expires_at(1_000, None) is None
    for bad in ("", "90", "90m", "-1d", "0d", "1.5d", "99999d", "forever"):
        with pytest.raises(BadParameter) as caught:
            tokens.parse_lifetime(bad)
        assert caught.value.name == "expires"
    with pytest.raises(BadParameter, match="12h, 90d"):
        tokens.parse_lifetime("never", "session_lifetime", allow_never=False)


# --- roles


def test_admin_and_staff_see_everything_a_user_only_their_usernames():
    assert access_scope(principal("root", Role.ADMIN, "local")) is None
    assert access_scope(principal("ops", Role.STAFF, "ldap")) is None
    assert access_scope(principal("alice", Role.USER, "proxy")) == ("alice",)
    mapped = principal("alice@example.edu", Role.USER, "proxy", ["asmith", "alice2", "asmith"])
    assert access_scope(mapped) == ("alice2", "asmith")  # a mapping replaces the login, once each
    assert access_scope(NO_AUTH) is None and not can_manage_accounts(NO_AUTH)
    assert can_manage_accounts(principal("root", Role.ADMIN, "local"))
    assert not can_manage_accounts(principal("ops", Role.STAFF, "local"))
    with pytest.raises(ValueError, match="at least one cluster username"):
        Principal("alice", Role.USER, (), "local")


def test_logins_and_roles_are_checked():
    for good in ("alice", "jo+ann", "alice@example.edu", "o'neil", "x" * 128):
        assert check_login(good) == good
    for bad in ("", "a b", "alice,carol", "alice;carol", "tab\there", "nul\x00", "x" * 129, "new\nline"):
        with pytest.raises(BadParameter):
            check_login(bad)
    assert Role.parse(" Admin ") is Role.ADMIN
    with pytest.raises(BadParameter, match="one of admin, staff, user"):
        Role.parse("root")
    assert role_from_groups(["x", "ops", "admins"], {"admins"}, {"ops"}) is Role.ADMIN
    assert role_from_groups(["ops"], {"admins"}, {"ops"}) is Role.STAFF
    assert role_from_groups(["Admins"], {"admins"}, {"ops"}) is Role.USER  # names compare exactly


# --- proxy trust


def proxy_settings(trusted: str, **options) -> ProxySettings:
    return ProxySettings(trusted=parse_trusted_proxies(trusted), **options)


def test_the_login_header_is_believed_only_from_a_trusted_proxy():
    settings = proxy_settings("10.1.0.0/16, ::1/128")
    headers = {"X-Forwarded-User": "alice"}
    assert decide("10.1.2.3", headers, settings) == ProxyLogin("alice")
    assert decide("::1", headers, settings) == ProxyLogin("alice")
    for untrusted in ("10.2.0.1", "127.0.0.1", "::2", "", None, "not an address"):
        refusal = decide(untrusted, headers, settings)
        assert isinstance(refusal, ProxyRefusal) and refusal.reason == "untrusted-peer", untrusted
    # without the header, even from the proxy: refused (a path the proxy does not protect)
    assert decide("10.1.2.3", {}, settings) == ProxyRefusal(
        "no-login", "the trusted proxy sent no X-Forwarded-User header"
    )


def test_addresses_are_compared_as_addresses():
    settings = proxy_settings("127.0.0.0/8 2001:db8::/32")
    headers = {"x-forwarded-user": "alice"}  # header names are case-insensitive
    assert decide("::ffff:127.0.0.1", headers, settings) == ProxyLogin("alice")  # IPv4 on a dual-stack socket
    assert decide("2001:db8:0:1::5", headers, settings) == ProxyLogin("alice")
    assert isinstance(decide("2001:db9::1", headers, settings), ProxyRefusal)
    unix = proxy_settings("unix")
    assert decide("", headers, unix) == ProxyLogin("alice")  # gunicorn on a Unix socket reports no address
    assert isinstance(decide("127.0.0.1", headers, unix), ProxyRefusal)
    for bad in ("10.0.0.1/8", "10.0.0.0/33", "example.edu", "unix:/run/x"):
        with pytest.raises(BadParameter) as caught:
            parse_trusted_proxies(bad)
        assert caught.value.name == "CLUSTERDASH_TRUSTED_PROXIES"


def test_a_malformed_login_header_is_refused_not_truncated():
    settings = proxy_settings("127.0.0.1/32")
    for value in ("alice, carol", "alice carol", "x" * 500):  # repeated headers arrive joined with commas
        refusal = decide("127.0.0.1", {"X-Forwarded-User": value}, settings)
        assert isinstance(refusal, ProxyRefusal) and refusal.reason == "bad-login"


def test_groups_come_from_the_groups_header_only_when_one_is_configured():
    headers = {"X-Forwarded-User": "carol", "X-Forwarded-Groups": "users, admins;ops"}
    plain = proxy_settings("127.0.0.1/32", admin_groups=frozenset({"admins"}))
    assert decide("127.0.0.1", headers, plain) == ProxyLogin("carol")  # role from the accounts table
    grouped = proxy_settings(
        "127.0.0.1/32",
        groups_header="X-Forwarded-Groups",
        admin_groups=frozenset({"admins"}),
        staff_groups=frozenset({"ops"}),
    )
    assert decide("127.0.0.1", headers, grouped) == ProxyLogin("carol", ("users", "admins", "ops"), Role.ADMIN)
    assert decide("127.0.0.1", {"X-Forwarded-User": "dave"}, grouped) == ProxyLogin("dave", (), Role.USER)


def test_the_client_address_is_the_proxys_word_only_when_the_proxy_is_trusted():
    trusted = parse_trusted_proxies("unix 10.0.0.1")
    headers = {"X-Real-IP": "192.0.2.7", "X-Forwarded-For": "6.6.6.6, 192.0.2.7"}
    assert client_address("", headers, trusted) == "192.0.2.7"
    assert client_address("10.0.0.1", headers, trusted) == "192.0.2.7"
    assert client_address("10.0.0.2", headers, trusted) == "10.0.0.2"  # anyone else: the peer itself
    assert client_address("10.0.0.1", {"X-Real-IP": "junk"}, trusted) == "10.0.0.1"


# --- throttling


def test_failures_back_off_exponentially_after_five_up_to_five_minutes():
    clock = FakeClock()
    throttle = Throttle(MemoryThrottleStore(), Policy(), clock)
    for _ in range(4):
        throttle.failed("alice", "192.0.2.1")
    assert throttle.retry_after("alice", "192.0.2.1") == 0
    waits = []
    for _ in range(12):
        throttle.failed("alice", "192.0.2.1")
        waits.append(throttle.retry_after("alice", "192.0.2.1"))
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]
    clock.advance(299.5)
    assert throttle.retry_after("alice", "192.0.2.1") == pytest.approx(0.5)
    clock.advance(0.5)
    assert throttle.retry_after("alice", "192.0.2.1") == 0
    clock.advance(3601)  # forgotten an hour after the last failure: counting starts again
    throttle.failed("alice", "192.0.2.1")
    assert throttle.retry_after("alice", "192.0.2.1") == 0


def test_throttling_counts_per_login_and_per_address():
    throttle = Throttle(MemoryThrottleStore(), Policy(), FakeClock())
    for n in range(5):  # one address guessing at five logins
        throttle.failed(f"user{n}", "192.0.2.1")
    assert throttle.retry_after("someone-else", "192.0.2.1") == 1  # the address waits
    assert throttle.retry_after("someone-else", "192.0.2.2") == 0
    for n, spelling in enumerate(("bob", "Bob", "BOB", "BÖB", "bob\u0301")):  # spellings a directory equates
        throttle.failed(spelling, f"198.51.100.{n}")  # five addresses guessing at one login
    assert throttle.retry_after("bob", "203.0.113.9") == 1
    throttle.succeeded("bob", "203.0.113.9")
    assert throttle.retry_after("bob", "203.0.113.9") == 0  # a success clears the login...
    throttle.succeeded("user0", "192.0.2.1")
    assert throttle.retry_after("user0", "192.0.2.1") == 1  # ...but not the address


def test_ipv6_clients_are_counted_by_their_slash_64():
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9") == "addr:2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.1") == address_key("192.0.2.1") == "addr:192.0.2.1"
    assert address_key("") == address_key("garbage") == "addr:?"


def test_the_memory_store_stays_bounded_and_keeps_the_newest():
    clock = FakeClock()
    store = MemoryThrottleStore(max_keys=10)
    throttle = Throttle(store, Policy(), clock)
    for n in range(30):
        clock.advance(1)
        throttle.failed("victim" if n == 29 else f"spray{n}", f"192.0.2.{n}")
    assert len(store) <= 10
    assert store.get("login:victim") is not None


# --- one sign-in, end to end (local accounts; an unreachable directory)


def test_sign_in_throttles_without_checking_and_audits_every_attempt():
    accounts = {"alice": LocalAccount("alice", passwords.hash_password("alice passphrase", FAST), Role.USER)}
    checked: list[str] = []
    local = LocalAuthenticator(accounts.get, hasher=FAST)

    def authenticate(login: str, password: str):
        checked.append(login)
        return local(login, password)

    events: list[AuditEvent] = []
    clock = FakeClock()
    throttle = Throttle(MemoryThrottleStore(), Policy(), clock)

    def attempt(password: str, login: str = "alice"):
        return sign_in(
            login,
            password,
            "192.0.2.1",
            method="local",
            authenticate=authenticate,
            throttle=throttle,
            audit=events.append,
        )

    for _ in range(5):
        assert isinstance(attempt("guess"), BadCredentials)
    assert attempt("alice passphrase") == Throttled(1.0)  # even the right password waits
    assert len(checked) == 5
    clock.advance(1)
    assert attempt("alice passphrase") == Identity("alice", "local", Role.USER, "alice")
    assert [e.kind for e in events] == [AuditKind.SIGN_IN_FAILED] * 5 + [AuditKind.THROTTLED, AuditKind.SIGN_IN]
    assert events[0] == AuditEvent(
        clock.now - 1, AuditKind.SIGN_IN_FAILED, "alice", "192.0.2.1", "local", "wrong password"
    )
    assert isinstance(attempt("x", login="not a login"), BadCredentials)  # malformed: a failure, not an error
    assert len(checked) == 6


def test_an_unreachable_directory_is_not_a_failed_sign_in(caplog):
    closed_port = free_port()  # nothing listens there
    directory = LdapAuthenticator(LdapSettings(url=f"ldap://127.0.0.1:{closed_port}", user_dn_template="uid={login}"))
    events: list[AuditEvent] = []
    throttle = Throttle(MemoryThrottleStore(), Policy(), FakeClock())
    with caplog.at_level(logging.WARNING, logger="clusterdash.auth"):
        for _ in range(10):
            result = sign_in(
                "alice",
                "pw",
                "192.0.2.1",
                method="ldap",
                authenticate=directory,
                throttle=throttle,
                audit=events.append,
            )
            assert isinstance(result, Unavailable)
    assert throttle.retry_after("alice", "192.0.2.1") == 0
    assert {e.kind for e in events} == {AuditKind.DIRECTORY_UNAVAILABLE}
    assert "not counted" in events[0].detail and "not counted as a failed one" in caplog.text
