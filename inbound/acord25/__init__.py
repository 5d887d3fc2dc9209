"""ACORD 25 certificate-of-insurance extraction (AcroForm, text layer, OCR)."""

from __future__ import annotations

from .detect import sniff
from .errors import ERROR_CODES, ExtractionError
from .sandbox import run_sandboxed
from .schema import COVERAGE_KEYS, LIMIT_KEYS, Extraction


def extract_certificate(
    data: bytes, *, filename: str | None = None, timeout_s: float = 60, memory_mb: int = 1024
) -> Extraction:
    """Extract in a child process limited to `timeout_s` CPU/wall seconds and `memory_mb` MB."""
    sniff(data)  # cheap refusals (empty, unsupported, too large) without a process
    return run_sandboxed(data, filename, timeout_s, memory_mb)


def extract_in_process(data: bytes, filename: str | None = None) -> Extraction:
    """Extract in this process, without resource limits (tests, the benchmark, the child)."""
    # A real lazy load: the service and the CLI only ever extract in the sandbox child, so they
    # do not pay for the PDF/OCR stack (pdfplumber, pypdfium2, pypdf: ~0.5 s of imports) here.
    from .extract import extract_in_process as run

    return run(data, filename)


__all__ = [
    "COVERAGE_KEYS",
    "ERROR_CODES",
    "LIMIT_KEYS",
    "Extraction",
    "ExtractionError",
    "extract_certificate",
    "extract_in_process",
]
