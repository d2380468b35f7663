"""LDAP sign-in against a real slapd (tests/ldapserver.py): both ways of finding a person, roles from groups,
hostile logins, TLS, and a directory that is down or silent (a specific failure, never "wrong password")."""

from __future__ import annotations

import dataclasses
import logging
import socket
import time

import pytest

from clusterdash.auth.ldap import LdapAuthenticator, LdapSettings
from clusterdash.auth.outcomes import BadCredentials, Identity, Unavailable
from clusterdash.auth.roles import Role
from clusterdash.auth.settings import auth_config
from tests.ldapserver import ALICE, CAROL, DAVE, JOANN, PACKAGES, LdapServer, ldap_server  # noqa: F401 (the fixture)
from tests.servertools import ServerUnavailable, system_tool

# Logins that would widen a filter or move a DN if they were pasted in unescaped.
HOSTILE_LOGINS = (
    "*",
    "al*",
    "*)(uid=*",
    "alice)(|(uid=*",
    "alice)(objectClass=*",
    "*)(|(objectClass=*)",
    "alice\\",
    "alice,ou=people",
    "uid=alice,ou=people,dc=example,dc=edu",
    "alice+cn=x",
    "#alice",
    'alice"',
    "alice<>",
    "alice\\2a",
)


def settings_for(server: LdapServer, how: str, **changes) -> LdapSettings:
    """The server's settings, finding people by DN template or by a search as the service account."""
    where = (
        {"user_dn_template": server.user_dn_template}
        if how == "template"
        else {"search_base": server.people_base, "bind_dn": server.service_dn, "bind_password": server.service_password}
    )
    base = LdapSettings(url=server.url, admin_group=server.admin_group, staff_group=server.staff_group, **where)
    return dataclasses.replace(base, **changes)


@pytest.fixture(params=["template", "search"])
def directory(request, ldap_server):  # noqa: F811 (the fixture, imported)
    return LdapAuthenticator(settings_for(ldap_server, request.param))


def test_the_right_password_signs_in_with_the_directorys_login_and_name(directory):
    assert directory("alice", ALICE.password) == Identity("alice", "ldap", Role.USER, "Alice Liddell")
    assert directory("ALICE", ALICE.password) == Identity("alice", "ldap", Role.USER, "Alice Liddell")
    assert directory(JOANN.login, JOANN.password) == Identity("jo+ann", "ldap", Role.USER, "Jo Ann")  # DN-escaped


def test_roles_come_from_group_membership_by_dn_or_by_uid(directory):
    assert directory("carol", CAROL.password) == Identity("carol", "ldap", Role.ADMIN, "Carol Admin")  # member: DN
    assert directory("dave", DAVE.password) == Identity("dave", "ldap", Role.STAFF, "Dave Staff")  # memberUid


def test_wrong_passwords_and_unknown_logins_are_bad_credentials(directory):
    assert isinstance(directory("alice", "alice-Secret-2"), BadCredentials)
    assert isinstance(directory("alice", CAROL.password), BadCredentials)
    assert isinstance(directory("nobody", "whatever"), BadCredentials)
    # An empty password would be an "unauthenticated bind", which LDAP answers with success.
    assert directory("alice", "") == BadCredentials("empty password")


@pytest.mark.parametrize("login", HOSTILE_LOGINS)
def test_no_login_can_reshape_the_filter_or_the_dn(directory, login):
    # With alice's (or carol's) password, an injected wildcard or DN would sign in as her: it must not.
    assert isinstance(directory(login, ALICE.password), BadCredentials)
    assert isinstance(directory(login, CAROL.password), BadCredentials)


def test_tls_upgrade_and_ldaps_verify_the_directorys_certificate(ldap_server):  # noqa: F811
    ca = str(ldap_server.ca_file)
    starttls = settings_for(ldap_server, "search", starttls=True, ca_file=ca)
    assert LdapAuthenticator(starttls)("alice", ALICE.password) == Identity("alice", "ldap", Role.USER, "Alice Liddell")
    ldaps = settings_for(ldap_server, "template", url=ldap_server.ldaps_url, ca_file=ca)
    assert LdapAuthenticator(ldaps)("carol", CAROL.password).role is Role.ADMIN
    unknown_ca = dataclasses.replace(ldaps, ca_file=None)  # the system's CAs never signed the test CA
    misnamed = dataclasses.replace(ldaps, url=ldap_server.misnamed_ldaps_url)  # a name the certificate lacks
    for settings in (unknown_ca, misnamed, dataclasses.replace(starttls, ca_file=None)):
        result = LdapAuthenticator(settings)("alice", ALICE.password)
        assert isinstance(result, Unavailable) and "certificate" in result.reason, result


def test_a_refused_service_account_is_the_servers_problem_not_a_wrong_password(ldap_server, caplog):  # noqa: F811
    wrong = settings_for(ldap_server, "search", bind_password="not-the-reader-password")
    with caplog.at_level(logging.WARNING, logger="clusterdash.auth"):
        result = LdapAuthenticator(wrong)("alice", ALICE.password)
    assert isinstance(result, Unavailable) and "service bind" in result.reason
    assert "not counted as a failed one" in caplog.text


def test_an_anonymous_search_finds_nobody_where_the_directory_hides_people(ldap_server):  # noqa: F811
    anonymous = dataclasses.replace(settings_for(ldap_server, "search"), bind_dn=None, bind_password=None)
    assert LdapAuthenticator(anonymous)("alice", ALICE.password) == BadCredentials("unknown login")


def test_a_directory_that_is_down_or_silent_is_unavailable_within_the_timeout(ldap_server):  # noqa: F811
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        down = settings_for(ldap_server, "template", url=f"ldap://127.0.0.1:{closed.getsockname()[1]}")
        result = LdapAuthenticator(down)("alice", ALICE.password)
    assert isinstance(result, Unavailable) and "refused" in result.reason.lower()
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"ldap://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        result = LdapAuthenticator(settings_for(ldap_server, "template", url=url, timeout=1.0))("alice", "pw")
        elapsed = time.monotonic() - started
    assert isinstance(result, Unavailable)
    assert elapsed < 30, f"the timeout did not apply ({elapsed:.0f} s)"  # only fails if nothing bounds the wait


def test_the_settings_build_a_working_authenticator(ldap_server, tmp_path):  # noqa: F811
    password_file = tmp_path / "bind-password"
    password_file.write_text(ldap_server.service_password + "\n")
    config = auth_config(
        {
            "auth": "ldap",
            "ldap_url": ldap_server.url,
            "ldap_starttls": "1",
            "ldap_ca_file": str(ldap_server.ca_file),
            "ldap_search_base": ldap_server.people_base,
            "ldap_bind_dn": ldap_server.service_dn,
            "ldap_bind_password_file": str(password_file),
            "ldap_admin_group": ldap_server.admin_group,
            "ldap_staff_group": ldap_server.staff_group,
        }
    )
    assert config.ldap is not None and config.ldap.bind_password == ldap_server.service_password
    assert LdapAuthenticator(config.ldap)("dave", DAVE.password).role is Role.STAFF


def test_a_missing_server_says_which_packages_to_install():
    with pytest.raises(ServerUnavailable, match="apt-get install -y --no-install-recommends slapd ldap-utils"):
        system_tool("slapd-not-installed", PACKAGES)
