"""LDAP login by bind against a real ``slapd`` started on loopback for the session."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap3
import pytest
from tests.support.identity import admin_headers
from tests.support.services import free_port, unavailable, wait_for

BASE = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{BASE}"
ROOT_PW = "root-secret"
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")

_CONFIG = """
include /etc/ldap/schema/{schemas}
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {work}/slapd.pid
database mdb
maxsize 10485760
suffix "{base}"
rootdn "{root_dn}"
rootpw {root_pw}
directory {work}/data
access to attrs=userPassword by anonymous auth by * none
access to * by * read
"""


def _slapd() -> str | None:
    return shutil.which("slapd") or next(
        (p for p in ("/usr/sbin/slapd", "/usr/local/libexec/slapd") if Path(p).exists()), None
    )


def _seed(url: str) -> None:
    conn = ldap3.Connection(url, ROOT_DN, ROOT_PW, auto_bind=True)
    try:
        conn.add(BASE, ["dcObject", "organization"], {"o": "Example", "dc": "example"})
        conn.add(f"ou=people,{BASE}", ["organizationalUnit"], {"ou": "people"})
        conn.add(f"ou=groups,{BASE}", ["organizationalUnit"], {"ou": "groups"})
        people = {
            "alice": ("Alice Admin", "alice-password"),
            "bob": ("Bob Builder", "bob-password"),
            "carol*": ("Star Carol", "carol-password"),
        }
        for uid, (cn, password) in people.items():
            conn.add(
                f"uid={ldap3.utils.dn.escape_rdn(uid)},ou=people,{BASE}",
                ["inetOrgPerson"],
                {"cn": cn, "sn": cn.split()[-1], "uid": uid, "mail": f"{uid}@example.org",
                 "userPassword": password},
            )  # fmt: skip
            assert conn.result["result"] == 0, conn.result
        groups = {"sark-admins": ["alice"], "engineers": ["alice", "bob"]}
        for name, members in groups.items():
            conn.add(
                f"cn={name},ou=groups,{BASE}",
                ["groupOfNames"],
                {"cn": name, "member": [f"uid={m},ou=people,{BASE}" for m in members]},
            )
            assert conn.result["result"] == 0, conn.result
    finally:
        conn.unbind()


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _can_bind(url: str) -> bool:
    connection = ldap3.Connection(url, ROOT_DN, ROOT_PW)
    try:
        return bool(connection.bind())
    finally:
        connection.unbind()


@pytest.fixture(scope="session", name="ldap_url")
def fixture_ldap_url() -> Iterator[str]:
    """URL of a seeded slapd (example.org: alice admin, bob engineer)."""
    binary = _slapd()
    if binary is None:
        unavailable("slapd", "install the Debian packages slapd and ldap-utils")
    work = Path(tempfile.mkdtemp(prefix="sark-slapd-"))
    (work / "data").mkdir()
    includes = "\ninclude /etc/ldap/schema/".join(f"{s}.schema" for s in SCHEMAS)
    config = work / "slapd.conf"
    config.write_text(_CONFIG.format(schemas=includes, work=work, base=BASE, root_dn=ROOT_DN,
                                     root_pw=ROOT_PW))  # fmt: skip
    port = free_port()
    url = f"ldap://127.0.0.1:{port}"
    process = subprocess.Popen(
        [binary, "-f", str(config), "-h", f"{url}/", "-d", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _port_open(port), "slapd", timeout=20)
        wait_for(lambda: _can_bind(url), "slapd", timeout=20)
        _seed(url)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def _env(ldap_url: str) -> dict[str, str]:
    return {
        "SARK_LDAP_URL": ldap_url,
        "SARK_LDAP_BIND_DN": ROOT_DN,
        "SARK_LDAP_BIND_PASSWORD": ROOT_PW,
        "SARK_LDAP_USER_BASE": f"ou=people,{BASE}",
        "SARK_LDAP_GROUP_BASE": f"ou=groups,{BASE}",
        "SARK_LDAP_ROLE_MAP": json.dumps({"sark-admins": "admin", "engineers": "developer"}),
    }


async def _login(client: Any, username: str, password: str) -> Any:
    return await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )


async def test_ldap_login_maps_groups_to_roles(make_client: Any, ldap_url: str) -> None:
    async with make_client(_env(ldap_url)) as client:
        alice = await _login(client, "alice", "alice-password")
        assert alice.status_code == 200, alice.text
        me = await client.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {alice.json()['access_token']}"}
        )
        assert me.json()["role"] == "admin"
        assert me.json()["user"]["auth_provider"] == "ldap"
        assert me.json()["user"]["email"] == "alice@example.org"
        bob = await _login(client, "bob", "bob-password")
        token = bob.json()["access_token"]
        me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["role"] == "developer"
        # Local users still log in with their password.
        assert (await admin_headers(client))["Authorization"].startswith("Bearer ")


async def test_ldap_wrong_password_and_injection_are_refused(
    make_client: Any, ldap_url: str
) -> None:
    async with make_client(_env(ldap_url)) as client:
        wrong = await _login(client, "alice", "not-her-password")
        assert wrong.status_code == 401
        assert wrong.json()["detail"] == "invalid username or password"
        # A filter metacharacter matches nobody but the literal "carol*" user.
        star = await _login(client, "*", "alice-password")
        assert star.status_code == 401
        injected = await _login(client, "alice)(uid=*", "alice-password")
        assert injected.status_code == 401
        literal = await _login(client, "carol*", "carol-password")
        assert literal.status_code == 200, literal.text
        admin = await admin_headers(client)
        users = (await client.get("/api/v1/users", headers=admin)).json()["items"]
        assert sorted(u["username"] for u in users) == ["admin", "carol*"]
