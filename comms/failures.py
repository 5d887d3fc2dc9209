"""What a failure means for a retry: a reason code, and whether retrying can help.

A quarantined inbound message or Twilio callback stores both (`quarantine_code`,
`quarantine_permanent`; `error_code`, `error_permanent`), so the re-run commands retry the
transient ones by default and name the permanent ones. The service's own errors say which
they are (`comms.errors`); of the rest, a database or a network that is unavailable is
transient, and anything else is an `internal_error`, retried (a fix may have been deployed).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from comms.errors import CommsError, PermanentError

INTERNAL = "internal_error"


@dataclass(frozen=True)
class Failure:
    code: str
    permanent: bool = False

    @property
    def label(self) -> str:
        return f"{self.code} ({'permanent' if self.permanent else 'transient'})"


def failure_of(exc: BaseException) -> Failure:
    """The reason code of an exception, and whether it is permanent."""
    if isinstance(exc, CommsError):
        return Failure(exc.code, isinstance(exc, PermanentError))
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return Failure("database_unavailable")
    if isinstance(exc, TimeoutError):
        return Failure("timeout")
    if isinstance(exc, ConnectionError):
        return Failure("connection_failed")
    return Failure(INTERNAL)
