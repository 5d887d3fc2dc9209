"""Every exception the service defines is a CommsError, permanent or transient."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

from comms.errors import CommsError, PermanentError, TransientError

PACKAGES = ("comms", "workflows", "inbound", "telephony")


def _our_exceptions() -> list[type[BaseException]]:
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, name + "."):
            if ".migrations" in info.name:  # alembic's env.py runs on import
                continue
            importlib.import_module(info.name)
    found: list[type[BaseException]] = []
    todo: list[type[BaseException]] = [BaseException]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            if sub.__module__.split(".")[0] in PACKAGES and sub not in found:
                found.append(sub)
    return found


def test_every_exception_is_permanent_or_transient() -> None:
    found = _our_exceptions()
    assert len(found) >= 20
    stray = [
        f"{c.__module__}.{c.__qualname__}"
        for c in found
        if c not in (CommsError, PermanentError, TransientError)
        and c.__qualname__ != "_Refused"  # SMTP refusal: 4xx or 5xx, decided per reply
        and not issubclass(c, PermanentError | TransientError)
    ]
    assert stray == []


def test_each_has_its_own_code() -> None:
    for cls in _our_exceptions():
        if cls in (CommsError, PermanentError, TransientError):
            continue
        assert issubclass(cls, CommsError)
        assert cls.code not in ("error", "permanent", "transient"), cls


@pytest.mark.parametrize(
    ("module", "name", "builtin"),
    [
        ("comms.context", "VendorGone", LookupError),
        ("inbound.imap.connection", "ConnectionLost", ConnectionError),
        ("inbound.imap.listener", "LeaseBusy", RuntimeError),
        ("inbound.acord25.ocr", "OcrUnavailable", RuntimeError),
        ("telephony.hours", "HoursError", ValueError),
    ],
)
def test_callers_that_catch_a_builtin_still_catch_it(
    module: str, name: str, builtin: type[Exception]
) -> None:
    assert issubclass(getattr(importlib.import_module(module), name), builtin)


def test_branches() -> None:
    from comms.settings import SettingsError
    from inbound.acord25.errors import ExtractionError
    from inbound.imap.connection import ConnectionLost

    assert issubclass(SettingsError, PermanentError)
    assert issubclass(ExtractionError, PermanentError)
    assert ExtractionError("bad", "encrypted").code == "encrypted"
    assert issubclass(ConnectionLost, TransientError)
