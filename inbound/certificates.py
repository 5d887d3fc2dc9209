"""Certificates back into records: an ACORD 25 extraction becomes a certificate with policies.

A certificate is `accepted` only when the extractor was sure of every field it read and the
insured named on it is the vendor the message was matched to; otherwise it is `needs_review`
with the doubtful fields named, and it does not count toward the verdict until staff accept it.
The same document (by sha256) received again for the same vendor is not recorded twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from difflib import SequenceMatcher
from typing import Any

from sqlmodel import Session, col, select

from comms.coverage import COVERAGE_KEYS, LIMIT_KEYS
from comms.errors import PermanentError
from comms.models import Certificate, CertificateSource, CertificateStatus, Policy, Vendor, audit
from comms.stored_verdicts import refresh_vendor
from inbound.acord25 import Extraction
from workflows.lifecycle import reevaluate_vendor

_ENTITY_WORDS = re.compile(
    r"\b(llc|l\.l\.c|inc|incorporated|corp|corporation|co|company|ltd|limited|lp|llp|pllc|"
    r"the|and|dba|d/b/a)\b\.?",
    re.IGNORECASE,
)
NAME_MATCH = 0.85


@dataclass
class Recorded:
    certificate: Certificate
    policies: list[Policy]
    created: bool
    review_reasons: list[str] = field(default_factory=list)


def _name_key(name: str) -> str:
    text = _ENTITY_WORDS.sub(" ", name.lower().replace("&", " "))
    return " ".join(re.findall(r"[a-z0-9]+", text))


def names_match(on_certificate: str | None, vendor_name: str) -> bool:
    """Whether the insured printed on the certificate is plausibly this vendor."""
    if not on_certificate:
        return False
    a, b = _name_key(on_certificate), _name_key(vendor_name)
    if not a or not b:
        return False
    if a == b or a in b or b in a:
        return True
    return SequenceMatcher(None, a, b).ratio() >= NAME_MATCH


def _date(value: Any) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def _limits(value: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    if isinstance(value, dict):
        for key, amount in value.items():
            if key in LIMIT_KEYS and isinstance(amount, int | float) and amount >= 0:
                out[key] = int(amount)
    return out


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def policies_of(extraction: Extraction, *, vendor_id: int, now: datetime) -> list[Policy]:
    """Policy rows (not yet attached to a certificate) from the extraction's policy list."""
    insurers = extraction.data.get("insurers") or {}
    out: list[Policy] = []
    for item in extraction.data.get("policies") or []:
        if not isinstance(item, dict):
            continue
        coverage = str(item.get("coverage") or "other")
        if coverage not in COVERAGE_KEYS:
            coverage = "other"
        letter = item.get("insurer")
        insurer = insurers.get(letter) if isinstance(letter, str) else None
        out.append(
            Policy(
                certificate_id=0,
                vendor_id=vendor_id,
                coverage=coverage,
                label=item.get("label"),
                insurer_letter=letter if isinstance(letter, str) else None,
                insurer=(insurer or {}).get("name"),
                naic=(insurer or {}).get("naic"),
                policy_number=item.get("policy_number"),
                effective_date=_date(item.get("effective")),
                expiration_date=_date(item.get("expiration")),
                limits=_limits(item.get("limits")),
                additional_insured=_flag(item.get("additional_insured")),
                subrogation_waived=_flag(item.get("subrogation_waived")),
                occurrence=_flag(item.get("occurrence")),
                created_at=now,
                updated_at=now,
            )
        )
    return out


def review_reasons(extraction: Extraction, vendor: Vendor, policies: list[Policy]) -> list[str]:
    """Why a person should look at this certificate before it counts (empty: accept it)."""
    reasons: list[str] = []
    if not extraction.is_acord25:  # another ACORD form, sent instead of a certificate
        reasons.append(f"the document is an {extraction.data.get('form')}, not an ACORD 25")
    doubtful = extraction.doubtful_fields()
    if doubtful:
        reasons.append("read with low confidence: " + ", ".join(doubtful))
    if not policies:
        reasons.append("no policies were read from the certificate")
    for i, policy in enumerate(policies):
        if policy.expiration_date is None:
            reasons.append(f"policies[{i}].expiration is missing or not a date")
    insured = (extraction.data.get("insured") or {}).get("name")
    if not names_match(insured, vendor.name):
        reasons.append(f"insured.name {insured!r} does not match the vendor {vendor.name!r}")
    return reasons


def record_certificate(
    session: Session,
    vendor: Vendor,
    extraction: Extraction,
    *,
    document_path: str,
    sha256: str,
    reference: str | None,
    inbound_id: int | None,
    now: datetime,
) -> Recorded:
    """Create the certificate and its policies (flushed, not committed)."""
    assert vendor.id is not None
    existing = session.exec(
        select(Certificate)
        .where(Certificate.vendor_id == vendor.id, Certificate.document_sha256 == sha256)
        .order_by(col(Certificate.id))
    ).first()
    if existing is not None:
        policies = list(
            session.exec(select(Policy).where(Policy.certificate_id == existing.id)).all()
        )
        return Recorded(existing, policies, False, list(existing.doubtful_fields))
    policies = policies_of(extraction, vendor_id=vendor.id, now=now)
    reasons = review_reasons(extraction, vendor, policies)
    status = CertificateStatus.NEEDS_REVIEW if reasons else CertificateStatus.ACCEPTED
    doubtful = extraction.doubtful_fields()
    if any(r.startswith("insured.name") for r in reasons):
        doubtful = sorted({*doubtful, "insured.name"})
    cert = Certificate(
        vendor_id=vendor.id,
        source=CertificateSource.EMAIL.value,
        reference=reference,
        document_path=document_path,
        document_sha256=sha256,
        received_at=now,
        status=status.value,
        inbound_message_id=inbound_id,
        extraction={**extraction.to_json(), "review_reasons": reasons},
        doubtful_fields=doubtful,
        created_at=now,
    )
    session.add(cert)
    session.flush()
    assert cert.id is not None
    for policy in policies:
        policy.certificate_id = cert.id
        session.add(policy)
    session.flush()
    return Recorded(cert, policies, True, reasons)


def certificate_json(rec: Recorded) -> dict[str, Any]:
    cert = rec.certificate
    return {
        "id": cert.id,
        "status": cert.status,
        "document_sha256": cert.document_sha256,
        "insured": (cert.extraction.get("insured") or {}).get("name"),
        "doubtful_fields": list(cert.doubtful_fields),
        "review_reasons": list(rec.review_reasons),
        "new": rec.created,
        "policies": [
            {
                "coverage": p.coverage,
                "label": p.label,
                "policy_number": p.policy_number,
                "insurer": p.insurer,
                "effective": p.effective_date.isoformat() if p.effective_date else None,
                "expiration": p.expiration_date.isoformat() if p.expiration_date else None,
                "limits": dict(p.limits),
                "additional_insured": p.additional_insured,
                "subrogation_waived": p.subrogation_waived,
            }
            for p in rec.policies
        ],
    }


class ReviewError(PermanentError):
    """A review decision that does not apply to the certificate."""

    code = "review"


def review_certificate(
    session: Session, certificate_id: int, *, accept: bool, by: str, now: datetime, note: str = ""
) -> Certificate:
    """Staff accept or reject a `needs_review` certificate; on accept the vendor's verdict is
    recomputed and its cases follow (flushed, not committed)."""
    cert = session.get(Certificate, certificate_id)
    if cert is None:
        raise ReviewError(f"no certificate {certificate_id}")
    if cert.status != CertificateStatus.NEEDS_REVIEW.value:
        raise ReviewError(f"certificate {certificate_id} is {cert.status}, not needs_review")
    cert.status = (CertificateStatus.ACCEPTED if accept else CertificateStatus.REJECTED).value
    session.add(cert)
    audit(
        session,
        actor=by,
        action="certificate.accept" if accept else "certificate.reject",
        entity="certificate",
        entity_id=cert.id,
        at=now,
        data={"note": note, "doubtful_fields": list(cert.doubtful_fields)},
    )
    session.flush()
    if accept:
        reevaluate_vendor(
            session, cert.vendor_id, now=now, reason=f"certificate {cert.id} accepted by {by}"
        )
    else:  # a rejected certificate never counted; the stored verdict is rechecked all the same
        refresh_vendor(
            session, cert.vendor_id, now=now, reason=f"certificate {cert.id} rejected by {by}"
        )
    return cert
