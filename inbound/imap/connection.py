"""Connecting to the IMAP server: the mailbox's identity, capabilities, and reconnect backoff."""

from __future__ import annotations

import contextlib
import imaplib
import random
from collections.abc import Callable
from dataclasses import dataclass

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from imapclient.imapclient import SocketTimeout

from comms.errors import TransientError
from comms.redact import redact_email
from comms.settings import Settings

# What a lost or broken connection raises: socket errors and timeouts (OSError), imaplib's
# error and abort (IMAPClientError is imaplib.IMAP4.error), and a server's BYE.
CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    imaplib.IMAP4.error,
    IMAPClientError,
    EOFError,
)
_QUIET: tuple[type[Exception], ...] = (*CONNECTION_ERRORS, ValueError)


class ConnectionLost(TransientError, ConnectionError):
    """The server closed the connection (BYE, end of stream) or stopped answering."""

    code = "connection_lost"


def mailbox_label(key: str) -> str:
    """A mailbox key (``user@host/folder``) for logs: the account's local part redacted."""
    account, _, place = key.rpartition("@")
    if not account:
        return key
    return f"{redact_email(account) if '@' in account else '***'}@{place}"


@dataclass(frozen=True)
class Mailbox:
    """One folder of one account on one server; ``key`` names it in the database."""

    host: str
    port: int
    ssl: bool
    username: str
    password: str
    folder: str
    timeout: float

    @classmethod
    def from_settings(cls, settings: Settings, *, folder: str | None = None) -> Mailbox:
        password = settings.imap_password.get_secret_value() if settings.imap_password else ""
        return cls(
            host=settings.imap_host,
            port=settings.imap_port,
            ssl=settings.imap_ssl,
            username=settings.imap_username,
            password=password,
            folder=folder or settings.imap_folder,
            timeout=settings.imap_timeout,
        )

    @property
    def key(self) -> str:
        """``user@host/folder``: the checkpoint, lease and stored rows use this name."""
        return f"{self.username}@{self.host}/{self.folder}"

    @property
    def label(self) -> str:
        """The key with the account's local part redacted, for logs."""
        return mailbox_label(self.key)

    def __repr__(self) -> str:  # never print the password
        return f"Mailbox({self.label!r})"


@dataclass(frozen=True)
class Capabilities:
    idle: bool
    move: bool
    uidplus: bool

    @classmethod
    def of(cls, client: IMAPClient) -> Capabilities:
        return cls(
            idle=bool(client.has_capability("IDLE")),
            move=bool(client.has_capability("MOVE")),
            uidplus=bool(client.has_capability("UIDPLUS")),
        )


def connect(mailbox: Mailbox) -> IMAPClient:
    """Open and log in. Every read and write has the mailbox's timeout, so a server that
    stops answering raises instead of hanging."""
    timeout = SocketTimeout(connect=mailbox.timeout, read=mailbox.timeout)
    client = IMAPClient(mailbox.host, port=mailbox.port, ssl=mailbox.ssl, timeout=timeout)
    quiet_imaplib(client)
    try:
        client.login(mailbox.username, mailbox.password)
    except BaseException:
        close(client, logout=False)
        raise
    return client


def quiet_imaplib(client: IMAPClient) -> None:
    """Turn off imaplib's debug trace, which IMAPClient sets to its highest level: imaplib
    then formats the repr of every response line and of every message it reads (for a
    debug logger that drops it unless debug logging is on), which costs most of a FETCH's
    time (5x the throughput without it, 120 kB messages on loopback) and would put whole
    messages, addresses included, into debug logs."""
    imap = getattr(client, "_imap", None)
    if imap is not None and hasattr(imap, "debug"):
        imap.debug = 0


def close(client: IMAPClient, *, logout: bool = True) -> None:
    """Log out (when the connection is believed alive), else just drop the socket."""
    try:
        if logout:
            client.logout()
            return
    except _QUIET:
        pass
    with contextlib.suppress(*_QUIET):
        client.shutdown()


class Backoff:
    """Exponential reconnect delays, capped, with jitter: attempt n waits between half and
    all of ``min(cap, base * 2**n)`` seconds (so listeners that lost one server together do
    not all come back at the same instant)."""

    def __init__(
        self,
        *,
        base: float = 1.0,
        cap: float = 60.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.base = base
        self.cap = cap
        self.rng = rng
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * (2 ** min(self.attempt, 30)))
        self.attempt += 1
        return ceiling / 2 + self.rng() * ceiling / 2

    def reset(self) -> None:
        self.attempt = 0
