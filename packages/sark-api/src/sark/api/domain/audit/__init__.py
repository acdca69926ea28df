"""The audit trail: the sink every part of SARK records through, its writer and its API."""

from sark.api.domain.audit.sink import AuditSink, LogAuditSink, record_event

__all__ = ["AuditSink", "LogAuditSink", "record_event"]
