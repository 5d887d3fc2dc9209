"""Extraction schema for ACORD 25 certificates: keys, result model and flattening."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from comms.coverage import COVERAGE_KEYS, LIMIT_KEYS  # noqa: F401  (re-exported)

# The keys are the project's own (comms.coverage), so a parsed certificate and a requirement
# profile speak the same words.

INSURER_LETTERS: tuple[str, ...] = ("A", "B", "C", "D", "E", "F")
SOURCES: tuple[str, ...] = ("acroform", "text", "ocr")
DOUBT_THRESHOLD = 0.8


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts/lists to dotted paths ("policies[0].limits.each_occurrence")."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, sub in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            out.update(flatten(sub, path))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            out.update(flatten(sub, f"{prefix}[{i}]"))
    else:
        out[prefix] = value
    return out


def empty_data() -> dict[str, Any]:
    return {
        "form": None,
        "edition": None,
        "date": None,
        "certificate_number": None,
        "producer": {"name": None, "contact_name": None, "phone": None, "email": None},
        "insured": {"name": None, "address": None},
        "insurers": {},
        "policies": [],
        "description_of_operations": None,
        "certificate_holder": {"name": None, "address": None},
    }


@dataclass
class Extraction:
    """Result of extracting one document."""

    is_acord25: bool
    data: dict[str, Any] = field(default_factory=empty_data)
    confidence: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    endorsements: list[dict[str, Any]] = field(default_factory=list)
    page: int | None = None

    def doubtful_fields(self) -> list[str]:
        return sorted(k for k, v in self.confidence.items() if v < DOUBT_THRESHOLD)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.data)
        out["is_acord25"] = self.is_acord25
        out["confidence"] = dict(self.confidence)
        out["sources"] = dict(self.sources)
        out["warnings"] = list(self.warnings)
        out["endorsements"] = list(self.endorsements)
        out["page"] = self.page
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Extraction:
        meta = {"is_acord25", "confidence", "sources", "warnings", "endorsements", "page"}
        data = {k: v for k, v in obj.items() if k not in meta}
        return cls(
            is_acord25=bool(obj.get("is_acord25")),
            data=data,
            confidence={k: float(v) for k, v in (obj.get("confidence") or {}).items()},
            sources=dict(obj.get("sources") or {}),
            warnings=list(obj.get("warnings") or []),
            endorsements=list(obj.get("endorsements") or []),
            page=obj.get("page"),
        )
