"""What processing one inbound message found: the `comms ingest --json` document."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from comms.compliance import Verdict
from inbound.models import InboundEmail


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    return {
        "status": verdict.status.value,
        "compliant": verdict.compliant,
        "as_of": verdict.as_of.isoformat(),
        "next_expiration": verdict.next_expiration.isoformat() if verdict.next_expiration else None,
        "expired_since": verdict.expired_since.isoformat() if verdict.expired_since else None,
        "deficiencies": [
            {"code": d.code, "coverage": d.coverage, "limit": d.limit, "message": d.message}
            for d in verdict.deficiencies
        ],
    }


@dataclass
class IngestResult:
    inbound_id: int
    status: str = "processed"  # processed | review | quarantined
    classification: str | None = None  # reply | bounce | auto_reply | unmatched
    classifier: str | None = None  # the registered name of the classifier that decided
    reason: str = ""
    matched: dict[str, Any] | None = None
    certificates: list[dict[str, Any]] = field(default_factory=list)
    verdict: dict[str, Any] | None = None
    quarantined: str | None = None
    quarantine_code: str | None = None  # `comms.failures`: what a retry can do about it
    quarantine_permanent: bool = False
    reply_text: str | None = None
    cases: list[dict[str, Any]] = field(default_factory=list)
    acknowledgment: int | None = None
    bounce: dict[str, Any] | None = None
    documents: dict[str, Any] | None = None
    defects: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "inbound_id": self.inbound_id,
            "status": self.status,
            "classification": self.classification,
            "classifier": self.classifier,
            "reason": self.reason,
            "matched": self.matched,
            "certificates": self.certificates,
            "verdict": self.verdict,
            "quarantined": self.quarantined,
            "quarantine_code": self.quarantine_code,
            "quarantine_permanent": self.quarantine_permanent,
            "reply_text": self.reply_text,
            "cases": self.cases,
            "acknowledgment": self.acknowledgment,
            "bounce": self.bounce,
            "documents": self.documents,
            "defects": self.defects,
        }

    @classmethod
    def from_row(cls, row: InboundEmail) -> IngestResult:
        """The stored result of a row already processed (or still waiting: status says)."""
        data = dict(row.result or {})
        known = set(cls.__dataclass_fields__)
        fields = {k: v for k, v in data.items() if k in known}
        fields["inbound_id"] = row.id or 0
        fields["status"] = row.status
        fields.setdefault("classification", row.classification)
        fields.setdefault("quarantined", row.quarantine_reason)
        fields.setdefault("quarantine_code", row.quarantine_code)
        fields.setdefault("quarantine_permanent", row.quarantine_permanent)
        return cls(**fields)
