"""The root of the service's errors: permanent ones are not retried, transient ones are."""

from __future__ import annotations


class CommsError(Exception):
    """Every error the service raises on purpose."""

    code: str = "error"


class PermanentError(CommsError):
    """Retrying cannot help: bad input, a refused document, a wrong setting."""

    code = "permanent"


class TransientError(CommsError):
    """Retrying later may help: a server down, a timeout, a lock."""

    code = "transient"
