"""The one error type of the package."""

from __future__ import annotations

from comms.errors import PermanentError

ERROR_CODES = frozenset(
    {
        "encrypted",
        "corrupt",
        "empty",
        "too_many_pages",
        "bomb",
        "too_large",
        "timeout",
        "memory",
        "unsupported",
    }
)


class ExtractionError(PermanentError):
    """Bad input or an exhausted resource limit; `code` is one of ERROR_CODES."""

    code = "extraction"  # an instance's: one of ERROR_CODES

    def __init__(self, reason: str, code: str) -> None:
        if code not in ERROR_CODES:
            code = "corrupt"
        super().__init__(f"{code}: {reason}")
        self.reason = reason
        self.code = code
