"""Staff correct one field of a held certificate's extraction (`policies[0].expiration`,
`policies[1].limits.each_occurrence`, `insured.name`, …). The value is checked for its kind
(a date, an amount, yes/no, text), the field is marked as read by a person (confidence 1, no
longer doubtful) and the certificate's policies are rebuilt from the corrected extraction, so
the verdict with it changes at once. Audited with before and after."""

from __future__ import annotations

import copy
import re
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col

from comms.errors import PermanentError
from comms.models import Certificate, CertificateStatus, Policy, audit
from inbound.acord25.schema import Extraction
from inbound.certificates import policies_of

_STEP = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d{1,3})\]")
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*|\[\d{1,3}\])*$")
DATE_FIELDS = {"effective", "expiration", "date"}
FLAG_FIELDS = {"additional_insured", "subrogation_waived", "occurrence"}
MAX_VALUE = 300


class CorrectionRefused(PermanentError):
    code = "correction_refused"


def _value(path: str, text: str) -> Any:
    last = _STEP.findall(path)[-1][0]
    text = text.strip()
    if len(text) > MAX_VALUE:
        raise CorrectionRefused(f"a value has at most {MAX_VALUE} characters")
    if last in DATE_FIELDS:
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise CorrectionRefused(f"{path}: {text[:40]!r} is not a date (YYYY-MM-DD)") from None
    if ".limits." in path:
        digits = text.replace(",", "").replace("$", "").strip()
        if not digits.isdigit():
            raise CorrectionRefused(f"{path}: {text[:40]!r} is not an amount")
        return int(digits)
    if last in FLAG_FIELDS:
        if text.lower() in {"yes", "true", "y", "1"}:
            return True
        if text.lower() in {"no", "false", "n", "0"}:
            return False
        raise CorrectionRefused(f"{path}: answer yes or no")
    return text or None


def _set(data: dict[str, Any], path: str, value: Any) -> Any:
    """Set `path` in `data`, creating dicts on the way; returns the old value."""
    steps = _STEP.findall(path)
    target: Any = data
    for i, (name, index) in enumerate(steps):
        last = i == len(steps) - 1
        if index:
            if not isinstance(target, list) or int(index) >= len(target):
                raise CorrectionRefused(f"{path}: there is no such entry on the certificate")
            if last:
                old = target[int(index)]
                target[int(index)] = value
                return old
            target = target[int(index)]
        else:
            if not isinstance(target, dict):
                raise CorrectionRefused(f"{path}: there is no such field")
            if last:
                old = target.get(name)
                target[name] = value
                return old
            nxt = steps[i + 1]
            if name not in target or target[name] is None:
                target[name] = [] if nxt[1] else {}
            target = target[name]
    raise CorrectionRefused(f"{path}: there is no such field")


def correct_field(
    session: Session, certificate_id: int, *, path: str, text: str, by: str, now: datetime
) -> Certificate:
    """Correct one field of a held certificate and rebuild its policies (flushed, not
    committed)."""
    if not _PATH.match(path) or len(path) > 120:
        raise CorrectionRefused(f"{path[:60]!r} is not a field name")
    cert = session.get(Certificate, certificate_id)
    if cert is None:
        raise CorrectionRefused(f"there is no certificate {certificate_id}")
    if cert.status != CertificateStatus.NEEDS_REVIEW.value:
        raise CorrectionRefused(f"certificate {certificate_id} is {cert.status}; only a held one")
    value = _value(path, text)
    extraction = copy.deepcopy(cert.extraction or {})
    meta = {"is_acord25", "confidence", "sources", "warnings", "endorsements", "page"}
    if path.split(".")[0].split("[")[0] in meta:
        raise CorrectionRefused(f"{path}: not a field of the certificate")
    old = _set(extraction, path, value)
    extraction.setdefault("confidence", {})[path] = 1.0
    extraction.setdefault("corrections", []).append(
        {"path": path, "before": old, "after": value, "by": by, "at": now.isoformat()}
    )
    cert.extraction = extraction
    cert.doubtful_fields = [f for f in cert.doubtful_fields or [] if f != path]
    session.add(cert)
    session.execute(delete(Policy).where(col(Policy.certificate_id) == cert.id))
    for policy in policies_of(Extraction.from_json(extraction), vendor_id=cert.vendor_id, now=now):
        policy.certificate_id = cert.id or 0
        session.add(policy)
    audit(
        session,
        action="certificate.correct",
        entity="certificate",
        entity_id=cert.id,
        actor=by,
        at=now,
        data={"field": path, "before": old, "after": value},
    )
    session.flush()
    return cert
