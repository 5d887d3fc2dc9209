"""ACORD 25 certificate-of-insurance extraction (AcroForm, text layer, OCR)."""

from __future__ import annotations

from .errors import ERROR_CODES, ExtractionError
from .extract import extract_in_process
from .schema import COVERAGE_KEYS, LIMIT_KEYS, Extraction


def extract_certificate(
    data: bytes, *, filename: str | None = None, timeout_s: float = 60, memory_mb: int = 1024
) -> Extraction:
    """Extract in a child process limited to `timeout_s` CPU/wall seconds and `memory_mb` MB."""
    from .detect import sniff
    from .sandbox import run_sandboxed

    sniff(data)  # cheap refusals (empty, unsupported, too large) without a process
    return run_sandboxed(data, filename, timeout_s, memory_mb)


__all__ = [
    "COVERAGE_KEYS",
    "ERROR_CODES",
    "LIMIT_KEYS",
    "Extraction",
    "ExtractionError",
    "extract_certificate",
    "extract_in_process",
]
