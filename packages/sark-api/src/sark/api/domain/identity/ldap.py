"""Password login against an LDAP directory by bind (ldap3), groups mapped to roles.

SARK searches the user with its own (or an anonymous) bind, binds as the user's DN with the
given password, reads the user's groups, and maps them to a role. Every value put into a
filter is escaped (RFC 4515), so a username cannot change the search.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio.to_thread
import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from sark.api.domain.identity.models import User
from sark.api.domain.identity.oidc import parse_role_map, strongest
from sark.api.domain.identity.services import UserService
from sark.core.errors import DependencyUnavailableError
from sark.core.models import Role
from sark.core.settings import LdapSettings


@dataclass(frozen=True, slots=True)
class LdapUser:
    """A user the directory vouched for."""

    username: str
    dn: str
    email: str | None
    display_name: str | None
    groups: tuple[str, ...]
    role: Role


class LdapDirectory:
    """Login by bind; ldap3 is synchronous, so calls run in a worker thread."""

    def __init__(self, settings: LdapSettings) -> None:
        self.settings = settings
        self.role_map = parse_role_map(settings.role_map, "SARK_LDAP_ROLE_MAP")
        self.default_role = Role(settings.default_role)

    async def authenticate(self, username: str, password: str) -> LdapUser | None:
        """The directory's user when ``password`` binds as ``username``, else None."""
        if not password:
            return None  # an empty password would be an anonymous bind that "succeeds"
        return await anyio.to_thread.run_sync(self._authenticate, username, password)

    def _server(self) -> ldap3.Server:
        return ldap3.Server(str(self.settings.url), get_info=ldap3.NONE, connect_timeout=5)

    def _authenticate(self, username: str, password: str) -> LdapUser | None:
        settings = self.settings
        bind_password = settings.bind_password.reveal() if settings.bind_password else None
        try:
            service = ldap3.Connection(
                self._server(), user=settings.bind_dn, password=bind_password, receive_timeout=10
            )
            try:
                if not service.bind():
                    msg = "SARK cannot bind to the LDAP directory (check SARK_LDAP_BIND_DN)"
                    raise DependencyUnavailableError(msg)
                found = self._find_user(service, username)
                if found is None:
                    return None
                dn, attributes = found
                groups = self._groups(service, dn)
            finally:
                service.unbind()  # ldap3's context manager leaves a bound socket open
            user_conn = ldap3.Connection(
                self._server(), user=dn, password=password, receive_timeout=10
            )
            try:
                if not user_conn.bind():
                    return None
            finally:
                user_conn.unbind()
        except LDAPException as exc:
            msg = f"the LDAP directory cannot be reached ({type(exc).__name__})"
            raise DependencyUnavailableError(msg) from None
        role = strongest(
            [self.role_map[g] for g in groups if g in self.role_map], self.default_role
        )
        return LdapUser(
            username=username,
            dn=dn,
            email=_first(attributes.get("mail")),
            display_name=_first(attributes.get("cn")),
            groups=groups,
            role=role,
        )

    def _find_user(
        self, connection: ldap3.Connection, username: str
    ) -> tuple[str, dict[str, object]] | None:
        query = self.settings.user_filter.replace("{username}", escape_filter_chars(username))
        connection.search(
            str(self.settings.user_base or ""), query, attributes=["cn", "mail"], size_limit=2
        )
        if len(connection.entries) != 1:
            return None  # unknown, or ambiguous: never guess which person logs in
        entry = connection.entries[0]
        return str(entry.entry_dn), dict(entry.entry_attributes_as_dict)

    def _groups(self, connection: ldap3.Connection, dn: str) -> tuple[str, ...]:
        if not self.settings.group_base:
            return ()
        query = self.settings.group_filter.replace("{user_dn}", escape_filter_chars(dn))
        connection.search(str(self.settings.group_base), query, attributes=["cn"])
        names = {
            str(v) for e in connection.entries for v in e.entry_attributes_as_dict.get("cn", [])
        }
        return tuple(sorted(names))


def _first(value: object) -> str | None:
    if isinstance(value, list) and value:
        return str(value[0])
    return None


async def provision_ldap_user(users: UserService, found: LdapUser, user: User | None) -> User:
    """The SARK user of a directory login: created on first login, role kept in sync."""
    if user is None:
        return await users.create_user(
            username=found.username,
            role=found.role,
            password_hash=None,
            email=found.email,
            display_name=found.display_name,
            auth_provider="ldap",
            external_id=found.dn,
        )
    user.role = str(found.role)
    user.external_id = found.dn
    return user
