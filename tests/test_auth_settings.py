"""The access-control settings: declared like the others, checked as a whole at startup, each mistake named."""

from __future__ import annotations

import pytest

from clusterdash.auth.settings import AUTH_SETTINGS, auth_config, check_exposure, is_loopback
from clusterdash.config import SETTINGS, flag
from clusterdash.errors import BadParameter, UserError

LDAP = {"auth": "ldap", "ldap_url": "ldaps://ldap.example.edu", "ldap_user_dn": "uid={login},ou=people,dc=example"}


def refusal(values: dict) -> BadParameter:
    with pytest.raises(BadParameter) as caught:
        auth_config(values)
    return caught.value


def test_the_declarations_are_among_the_settings():
    assert set(AUTH_SETTINGS) < set(SETTINGS) and all(SETTINGS[name] is s for name, s in AUTH_SETTINGS.items())
    for setting in AUTH_SETTINGS.values():
        assert setting.env.startswith("CLUSTERDASH_") and setting.help.strip()
    assert AUTH_SETTINGS["auth"].env == "CLUSTERDASH_AUTH" and AUTH_SETTINGS["auth"].default == "none"
    assert AUTH_SETTINGS["auth_header"].default == "X-Forwarded-User"


def test_by_default_nobody_signs_in():
    config = auth_config({})
    assert config.mode == "none" and config.proxy is None and config.ldap is None and config.secret_key is None
    assert config.session_lifetime == 12 * 3600 and config.show_everyone_else


def test_each_mistake_names_its_variable():
    cases = [
        ({"auth": "kerberos"}, "CLUSTERDASH_AUTH", "kerberos"),
        ({"auth": "proxy"}, "CLUSTERDASH_TRUSTED_PROXIES", "empty"),
        ({"auth": "proxy", "trusted_proxies": "10.0.0.0/33"}, "CLUSTERDASH_TRUSTED_PROXIES", "CIDR"),
        ({"auth": "proxy", "trusted_proxies": "unix", "auth_header": "X_Remote_User"}, "CLUSTERDASH_AUTH_HEADER", "-"),
        ({**LDAP, "ldap_url": "http://ldap.example.edu"}, "CLUSTERDASH_LDAP_URL", "ldaps://"),
        ({**LDAP, "ldap_url": "ldap://ldap.example.edu/dc=x"}, "CLUSTERDASH_LDAP_URL", "ldap://"),
        ({**LDAP, "ldap_starttls": "yes"}, "CLUSTERDASH_LDAP_STARTTLS", "STARTTLS"),
        ({**LDAP, "ldap_starttls": "maybe"}, "CLUSTERDASH_LDAP_STARTTLS", "yes/no"),
        ({**LDAP, "ldap_search_base": "ou=people"}, "CLUSTERDASH_LDAP_USER_DN", "exactly one"),
        ({**LDAP, "ldap_user_dn": ""}, "CLUSTERDASH_LDAP_USER_DN", "exactly one"),
        ({**LDAP, "ldap_user_dn": "uid=x,ou=people"}, "CLUSTERDASH_LDAP_USER_DN", "{login}"),
        (
            {**LDAP, "ldap_user_dn": "", "ldap_search_base": "dc=x", "ldap_search_filter": "uid={login}"},
            "CLUSTERDASH_LDAP_SEARCH_FILTER",
            "parenthesised",
        ),
        ({**LDAP, "ldap_bind_dn": "cn=reader"}, "CLUSTERDASH_LDAP_BIND_PASSWORD", "no password"),
        ({**LDAP, "ldap_ca_file": "/nonexistent/ca.pem"}, "CLUSTERDASH_LDAP_CA_FILE", "not a file"),
        ({**LDAP, "ldap_timeout": "0"}, "CLUSTERDASH_LDAP_TIMEOUT", "more than 0"),
        ({**LDAP, "ldap_timeout": "soon"}, "CLUSTERDASH_LDAP_TIMEOUT", "seconds"),
        ({"secret_key": "short"}, "CLUSTERDASH_SECRET_KEY", "at least 32"),
        ({"secret_key_file": "/nonexistent/key"}, "CLUSTERDASH_SECRET_KEY_FILE", "cannot read"),
        ({"session_lifetime": "never"}, "CLUSTERDASH_SESSION_LIFETIME", "12h"),
        ({"show_everyone_else": "perhaps"}, "CLUSTERDASH_SHOW_EVERYONE_ELSE", "yes/no"),
    ]
    for values, variable, words in cases:
        error = refusal(values)
        assert error.name == variable and words in error.message, (values, str(error))


def test_secrets_come_from_a_value_or_a_file_not_both(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("k" * 40 + "\n")
    assert auth_config({"secret_key_file": str(key_file)}).secret_key == "k" * 40
    assert "k" * 40 not in repr(auth_config({"secret_key_file": str(key_file)}))
    error = refusal({"secret_key": "k" * 40, "secret_key_file": str(key_file)})
    assert error.name == "CLUSTERDASH_SECRET_KEY" and "not both" in error.message
    (tmp_path / "empty").write_text("\n")
    assert "empty" in refusal({"secret_key_file": str(tmp_path / "empty")}).message


def test_proxy_and_ldap_settings_are_converted():
    proxy = auth_config(
        {
            "auth": "proxy",
            "trusted_proxies": "unix, 10.0.0.0/8 ::1",
            "auth_groups_header": "X-Forwarded-Groups",
            "auth_admin_groups": "hpc-admins, root",
            "auth_staff_groups": "hpc-staff",
        }
    ).proxy
    assert proxy is not None and proxy.trusted.unix_socket and len(proxy.trusted.networks) == 2
    assert proxy.admin_groups == {"hpc-admins", "root"} and proxy.groups_header == "X-Forwarded-Groups"
    ldap = auth_config({**LDAP, "ldap_timeout": "2.5"}).ldap
    assert ldap is not None and ldap.timeout == 2.5 and ldap.search_base is None and not ldap.starttls


def test_flags_read_as_people_write_them():
    assert [flag(v) for v in ("1", "true", "Yes", "on", "0", "false", "no", "off", "")] == [True] * 4 + [False] * 5
    with pytest.raises(ValueError):
        flag("2")


def test_serving_without_sign_in_is_for_loopback_unless_said_otherwise():
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        assert is_loopback(host)
        check_exposure("none", host, public_without_auth=False)
    for host in ("0.0.0.0", "::", "", "192.0.2.1", "dash.example.edu", None):
        assert not is_loopback(host)
        with pytest.raises(UserError, match="CLUSTERDASH_PUBLIC_WITHOUT_AUTH=1"):
            check_exposure("none", host, public_without_auth=False)
        check_exposure("none", host, public_without_auth=True)
        check_exposure("ldap", host, public_without_auth=False)
