"""A throwaway OpenLDAP server (slapd, the Debian package) for the test session, in a temporary directory.

`LdapServer().start()` writes a cn=config tree and a small directory with slapadd, then runs slapd on free
loopback ports: plain LDAP (which also offers STARTTLS) and LDAPS, both with a certificate from a throwaway
CA made with openssl. `stop()` ends it by the pid in its pid file. The `ldap_server` fixture starts one per
test session; import it where it is used (`from tests.ldapserver import ldap_server`).

The directory: people under ou=people (alice and bob are plain users, carol is in the admins group by
`member` DN, dave in the staff group by `memberUid`, "jo+ann" needs DN escaping), and a read-only service
account for search-then-bind. Anonymous clients may only bind: searching needs a signed-in client, as in
most campus directories.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.browser import free_port
from tests.servertools import Certificates, ServerUnavailable, make_certificates, run_tool, system_tool, wait_for

SUFFIX = "dc=example,dc=edu"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")
PACKAGES = "slapd ldap-utils"


@dataclass(frozen=True)
class Person:
    login: str
    password: str
    display_name: str

    @property
    def dn(self) -> str:
        return f"uid={_escape_rdn(self.login)},{PEOPLE}"


def _escape_rdn(value: str) -> str:
    from ldap3.utils.dn import escape_rdn

    return escape_rdn(value)


ALICE = Person("alice", "alice-Secret-1", "Alice Liddell")
BOB = Person("bob", "bob-Secret-2", "Bob Builder")
CAROL = Person("carol", "carol-Secret-3", "Carol Admin")
DAVE = Person("dave", "dave-Secret-4", "Dave Staff")
JOANN = Person("jo+ann", "joann-Secret-5", "Jo Ann")


@dataclass
class LdapServer:
    """A running slapd; the attributes are what a test needs to point clusterdash at it."""

    base: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="clusterdash-ldap-", dir="/tmp")))
    port: int = field(default_factory=free_port)
    tls_port: int = field(default_factory=free_port)
    people: dict[str, Person] = field(default_factory=lambda: {p.login: p for p in (ALICE, BOB, CAROL, DAVE, JOANN)})
    suffix: str = SUFFIX
    people_base: str = PEOPLE
    user_dn_template: str = f"uid={{login}},{PEOPLE}"
    admin_group: str = f"cn=admins,{GROUPS}"
    staff_group: str = f"cn=staff,{GROUPS}"
    service_dn: str = f"cn=reader,{SUFFIX}"
    service_password: str = "reader-Secret-0"

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.tls_port}"

    @property
    def misnamed_ldaps_url(self) -> str:
        """The same server at an address its certificate does not name (127.0.0.2 is loopback too)."""
        return f"ldaps://127.0.0.2:{self.tls_port}"

    @property
    def ca_file(self) -> Path:
        return self.base / "tls" / "ca.pem"

    @property
    def pid_file(self) -> Path:
        return self.base / "slapd.pid"

    def start(self) -> LdapServer:
        slapd, slapadd = system_tool("slapd", PACKAGES), system_tool("slapadd", PACKAGES)
        certificates = make_certificates(self.base / "tls")
        (self.base / "conf").mkdir()
        (self.base / "db").mkdir()
        (self.base / "config.ldif").write_text(self._config_ldif(certificates))
        (self.base / "people.ldif").write_text(self._directory_ldif())
        run_tool(slapadd, "-n", "0", "-F", self.base / "conf", "-l", self.base / "config.ldif")
        run_tool(slapadd, "-n", "1", "-F", self.base / "conf", "-l", self.base / "people.ldif")
        # slapd daemonises once it listens; its pid file is how it is stopped
        run_tool(slapd, "-h", f"{self.url}/ {self.ldaps_url}/ {self.misnamed_ldaps_url}/", "-F", self.base / "conf")
        self._wait_until_listening()
        return self

    def stop(self) -> None:
        try:
            if self.pid_file.exists():
                pid = int(self.pid_file.read_text().split()[0])
                os.kill(pid, signal.SIGTERM)
                wait_for(lambda: not Path(f"/proc/{pid}").exists(), "slapd to stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def _wait_until_listening(self) -> None:
        def listening() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self.pid_file.exists()
            except OSError:
                return False

        wait_for(listening, f"slapd to listen on {self.url}")

    def _config_ldif(self, certificates: Certificates) -> str:
        root_pw = run_tool(system_tool("slappasswd", PACKAGES), "-s", "root-Secret").strip()
        schemas = "".join(f"include: file:///etc/ldap/schema/{name}.ldif\n\n" for name in SCHEMAS)
        return f"""dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {self.pid_file}
olcTLSCACertificateFile: {certificates.ca}
olcTLSCertificateFile: {certificates.cert}
olcTLSCertificateKeyFile: {certificates.key}

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{schemas}dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {SUFFIX}
olcRootDN: cn=root,{SUFFIX}
olcRootPW: {root_pw}
olcDbDirectory: {self.base / "db"}
olcAccess: {{0}}to attrs=userPassword by anonymous auth by self write by * none
olcAccess: {{1}}to * by users read by * none
"""

    def _directory_ldif(self) -> str:
        entries = [
            f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example University",
            f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people",
            f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups",
            f"dn: {self.service_dn}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
            f"cn: reader\nuserPassword: {self.service_password}",
        ]
        for person in self.people.values():
            surname = person.display_name.split()[-1]
            entries.append(
                f"dn: {person.dn}\nobjectClass: inetOrgPerson\nuid: {person.login}\ncn: {person.display_name}\n"
                f"sn: {surname}\ndisplayName: {person.display_name}\nuserPassword: {person.password}"
            )
        entries.append(f"dn: {self.admin_group}\nobjectClass: groupOfNames\ncn: admins\nmember: {CAROL.dn}")
        entries.append(
            f"dn: {self.staff_group}\nobjectClass: posixGroup\ncn: staff\ngidNumber: 5000\nmemberUid: {DAVE.login}"
        )
        return "\n\n".join(entries) + "\n"


@pytest.fixture(scope="session")
def ldap_server() -> Iterator[LdapServer]:
    """A running slapd for the whole session (url, ldaps_url, ca_file, people, groups, service account)."""
    server = LdapServer()
    try:
        server.start()
    except ServerUnavailable as exc:
        server.stop()
        pytest.fail(f"a real slapd is needed for the LDAP tests: {exc}", pytrace=False)
    yield server
    server.stop()
