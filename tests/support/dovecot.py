"""A real Dovecot IMAP server for tests (Debian's `dovecot-imapd`, /usr/sbin/dovecot).

    server = shared_server()            # one per test process, stopped at exit
    user = server.add_user()            # a fresh account (its own maildir)
    uid = server.append(user, raw)      # APPEND to INBOX, returns the UID
    server.set_uidvalidity(user, "INBOX", 4242)
    server.kick(user)                   # the server closes the user's connections (BYE)

    with Dovecot(capabilities="IMAP4rev1 IDLE UIDPLUS") as old:   # a server without MOVE
        ...

The server runs from a throwaway directory (config, passwd-file, maildirs, logs) on a free
loopback port with no SSL and plaintext logins; its passwd-file holds USERS accounts, all with PASSWORD. As a normal user everything runs as that
user; as root, Dovecot's login and internal processes use the package's `dovenull` and
`dovecot` accounts and mail belongs to `nobody` (Dovecot refuses to run mail as root).
"""

from __future__ import annotations

import atexit
import ctypes
import grp
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

from imapclient import IMAPClient

from tests.support.services import free_port, port_open, require

DOVECOT = Path("/usr/sbin/dovecot")
PASSWORD = "imap-test-password"
USERS = 500  # accounts in the passwd-file


def _user(n: int) -> str:
    return f"user{n}@test.example"


def doveadm_path() -> str | None:
    return shutil.which("doveadm") or (
        "/usr/bin/doveadm" if Path("/usr/bin/doveadm").exists() else None
    )


def dovecot_available() -> bool:
    if not (DOVECOT.exists() and os.access(DOVECOT, os.X_OK) and doveadm_path()):
        return False
    if os.getuid() == 0:
        try:
            pwd.getpwnam("dovecot")
            pwd.getpwnam("dovenull")
        except KeyError:
            return False
    return True


def require_dovecot() -> None:
    require(dovecot_available(), "dovecot (apt-get install dovecot-imapd; scripts/system-deps.sh)")


def _accounts() -> dict[str, str | int]:
    """Who runs what: the current user, or (as root) Dovecot's own accounts and nobody."""
    if os.getuid() != 0:
        me = pwd.getpwuid(os.getuid())
        group = grp.getgrgid(os.getgid()).gr_name
        return {
            "login": me.pw_name,
            "internal": me.pw_name,
            "internal_group": group,
            "mail_uid": os.getuid(),
            "mail_gid": os.getgid(),
        }
    nobody = pwd.getpwnam("nobody")
    return {
        "login": "dovenull",
        "internal": "dovecot",
        "internal_group": "dovecot",
        "mail_uid": nobody.pw_uid,
        "mail_gid": nobody.pw_gid,
    }


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the test process dies (Linux), so a killed
    test run leaves no server behind."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Dovecot:
    """One Dovecot instance; see the module docstring."""

    host = "127.0.0.1"

    def __init__(self, *, capabilities: str | None = None) -> None:
        self.capabilities = capabilities
        self.port = 0
        self.root = Path()
        self._proc: subprocess.Popen[bytes] | None = None
        self._users = itertools.count(1)
        self._lock = threading.Lock()

    # --- lifecycle ----------------------------------------------------------------------
    @property
    def config(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _write_config(self) -> None:
        acct = _accounts()
        home = self.root / "home"
        home.mkdir()
        home.chmod(0o777)  # the mail user (nobody, as root) creates its home here
        # the accounts, written once: Dovecot notices a changed passwd-file by its mtime, which
        # a second write within the same second would not change
        (self.root / "passwd").write_text(
            "".join(f"{_user(n)}:{{PLAIN}}{PASSWORD}\n" for n in range(1, USERS + 1))
        )
        extra = f"imap_capability = {self.capabilities}\n" if self.capabilities else ""
        self.config.write_text(
            f"""\
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
protocols = imap
listen = {self.host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {acct["login"]}
default_internal_user = {acct["internal"]}
default_internal_group = {acct["internal_group"]}
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:~/Maildir
mail_fsync = never
mail_max_userip_connections = 200
{extra}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.root}/passwd
}}
userdb {{
  driver = static
  args = uid={acct["mail_uid"]} gid={acct["mail_gid"]} home={home}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
"""
        )

    def start(self) -> Dovecot:
        require_dovecot()
        self.root = Path(tempfile.mkdtemp(prefix="dovecot-test-"))
        self.root.chmod(0o755)  # Dovecot's unprivileged processes look inside
        self.port = free_port()
        self._write_config()
        self._proc = subprocess.Popen(
            [str(DOVECOT), "-F", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + 15
        while not port_open(self.host, self.port, timeout=0.2):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                self.stop()
                raise RuntimeError(f"dovecot did not start: {err}\n{self.log}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc is not None and proc.stderr is not None:
            proc.stderr.close()
        if self.root != Path() and self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- accounts and mail --------------------------------------------------------------
    def add_user(self) -> str:
        """A fresh account of the passwd-file (its maildir is created on first login)."""
        with self._lock:
            n = next(self._users)
        if n > USERS:
            raise RuntimeError(f"more than {USERS} test accounts asked of one server")
        return _user(n)

    def client(self, user: str, password: str = PASSWORD) -> IMAPClient:
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        client.login(user, password)
        return client

    def append(self, user: str, raw: bytes, folder: str = "INBOX") -> int:
        return self.append_many(user, [raw], folder)[0]

    def append_many(self, user: str, raws: list[bytes], folder: str = "INBOX") -> list[int]:
        """APPEND each message on one connection; the UIDs the server gave them."""
        uids: list[int] = []
        client = self.client(user)
        try:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            for raw in raws:
                response = client.append(folder, raw)
                # b"[APPENDUID <uidvalidity> <uid>] Append completed."
                uids.append(int(response.split(b"]", 1)[0].split()[-1]))
        finally:
            client.logout()
        return uids

    def messages(self, user: str, folder: str = "INBOX") -> dict[int, bytes]:
        """UID -> raw bytes of every message in ``folder`` (empty if it does not exist)."""
        client = self.client(user)
        try:
            if not client.folder_exists(folder):
                return {}
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            if not uids:
                return {}
            data = client.fetch(uids, ["BODY.PEEK[]"])
            return {int(uid): bytes(d[b"BODY[]"]) for uid, d in data.items()}
        finally:
            client.logout()

    def count(self, user: str, folder: str = "INBOX") -> int:
        return len(self.messages(user, folder))

    # --- server-side operations ---------------------------------------------------------
    def doveadm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        path = doveadm_path()
        assert path is not None
        return subprocess.run(
            [path, "-c", str(self.config), *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=30,
        )

    def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        out = self.doveadm("-f", "flow", "mailbox", "status", "-u", user, "uidvalidity", folder)
        return int(out.stdout.strip().split("=", 1)[1])

    def set_uidvalidity(self, user: str, folder: str, value: int) -> None:
        """Renumber the folder as a restore or a server migration would (the UIDs stay,
        their meaning does not)."""
        self.doveadm("mailbox", "update", "-u", user, "--uid-validity", str(value), folder)

    def kick(self, user: str) -> None:
        """Close every connection of ``user`` (the server sends BYE)."""
        self.doveadm("kick", user, check=False)


_shared: Dovecot | None = None
_shared_lock = threading.Lock()


def shared_server() -> Dovecot:
    """The test process's Dovecot, started on first use (tests take a fresh user each)."""
    global _shared
    require_dovecot()
    with _shared_lock:
        if _shared is None:
            server = Dovecot().start()
            atexit.register(server.stop)
            _shared = server
        return _shared
