"""Tables of the foundation (``core`` branch, first revision)."""

from __future__ import annotations

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from sark.api.domain.admin import models as _admin_models  # noqa: F401  (registers tables)
from sark.api.domain.audit import models as _audit_models  # noqa: F401  (registers tables)
from sark.api.domain.catalog import models as _catalog_models  # noqa: F401  (registers tables)
from sark.api.domain.identity import models as _identity_models  # noqa: F401  (registers tables)


class Installation(UUIDv7AuditBase):
    """One row per database: which installation it is and which release created it."""

    __tablename__ = "sark_installation"

    created_by_version: Mapped[str] = mapped_column(String(64))
