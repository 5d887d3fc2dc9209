"""`comms doctor`: check every configured peer, one line each, naming what to fix.

    ok    database   postgresql://comms@db/comms answers; migrations at 0006 (head)
    FAIL  smtp       smtp.example.com:587 refused the login (535 …): check COMMS_SMTP_USERNAME …
    skip  imap       COMMS_IMAP_HOST is not set

Exit status 1 when any check fails. Each check has its own timeout (`TIMEOUT`).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass

import typer
from sqlalchemy import text

from comms.broker import broker_state
from comms.cli.context import console, settings
from comms.db import make_engine
from comms.settings import Settings

TIMEOUT = 10.0
MIN_FREE = 1 << 30  # bytes free under COMMS_DATA_DIR below which the disk check fails


@dataclass
class Check:
    state: str  # ok, FAIL, skip
    name: str
    detail: str


def _first_line(exc: BaseException) -> str:
    text_ = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text_[0][:160]}" if text_ else type(exc).__name__


def check_database(s: Settings) -> Check:
    url = s.effective_database_url
    # imported here: Alembic is slow to import and only this check needs it
    from alembic.script import ScriptDirectory

    from comms.migrate import alembic_config, current_revision

    engine = make_engine(url)
    shown = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = current_revision(engine)
    except Exception as exc:
        return Check("FAIL", "database", f"{shown}: {_first_line(exc)}: check COMMS_DATABASE_URL")
    finally:
        engine.dispose()
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    if current != head:
        return Check(
            "FAIL",
            "database",
            f"{shown} answers but its schema is at {current or 'nothing'}, not {head}: "
            "run `comms db upgrade`",
        )
    return Check("ok", "database", f"{shown} answers; migrations at {current} (head)")


def check_broker(s: Settings) -> Check:
    if not s.broker_url:
        return Check("ok", "broker", "in-process (COMMS_BROKER_URL not set)")
    state = broker_state(s, timeout=TIMEOUT)
    where = s.broker_url.split("@")[-1]
    if state == "ok":
        return Check("ok", "broker", f"{where} answers")
    return Check("FAIL", "broker", f"{where}: {state}: check COMMS_BROKER_URL and the server")


def check_smtp(s: Settings) -> Check:
    if not s.smtp_host:
        return Check("skip", "smtp", "COMMS_SMTP_HOST is not set (email goes to .eml files)")
    from comms.email.pool import SmtpPool

    where = f"{s.smtp_host}:{s.smtp_port}"

    async def probe() -> None:
        pool = SmtpPool(s)
        try:
            async with asyncio.timeout(TIMEOUT):
                conn = await pool.acquire()
                assert conn.client is not None
                await conn.client.noop()
                pool.release(conn)
        finally:
            await pool.aclose()

    try:
        asyncio.run(probe())
    except Exception as exc:
        hint = (
            "check COMMS_SMTP_USERNAME and COMMS_SMTP_PASSWORD"
            if "auth" in type(exc).__name__.lower() or "535" in str(exc)
            else "check COMMS_SMTP_HOST, COMMS_SMTP_PORT and COMMS_SMTP_TLS"
        )
        return Check("FAIL", "smtp", f"{where}: {_first_line(exc)}: {hint}")
    login = f" as {s.smtp_username}" if s.smtp_username else ""
    return Check("ok", "smtp", f"{where} ({s.smtp_tls}) accepted the connection{login}")


def check_imap(s: Settings) -> Check:
    if not s.imap_host:
        return Check("skip", "imap", "COMMS_IMAP_HOST is not set")
    from imapclient import IMAPClient
    from imapclient.imapclient import SocketTimeout

    where = f"{s.imap_host}:{s.imap_port}"
    try:
        client = IMAPClient(
            s.imap_host,
            port=s.imap_port,
            ssl=s.imap_ssl,
            timeout=SocketTimeout(connect=TIMEOUT, read=TIMEOUT),
        )
    except Exception as exc:
        return Check(
            "FAIL", "imap", f"{where}: {_first_line(exc)}: check COMMS_IMAP_HOST/_PORT/_SSL"
        )
    try:
        try:
            password = s.imap_password.get_secret_value() if s.imap_password else ""
            client.login(s.imap_username, password)
        except Exception as exc:
            return Check(
                "FAIL",
                "imap",
                f"{where}: login refused ({_first_line(exc)}): "
                "check COMMS_IMAP_USERNAME and COMMS_IMAP_PASSWORD",
            )
        try:
            client.select_folder(s.imap_folder, readonly=True)
        except Exception as exc:
            return Check(
                "FAIL",
                "imap",
                f"{where}: no folder {s.imap_folder!r} ({_first_line(exc)}): "
                "check COMMS_IMAP_FOLDER",
            )
    finally:
        with contextlib.suppress(Exception):  # the check's answer is already decided
            client.logout()
    return Check("ok", "imap", f"{where}: logged in as {s.imap_username}; {s.imap_folder} opens")


def check_twilio(s: Settings) -> Check:
    if not s.twilio_account_sid:
        return Check(
            "skip", "twilio", "COMMS_TWILIO_ACCOUNT_SID is not set (SMS and calls: sandbox)"
        )
    base = (s.twilio_api_url or "https://api.twilio.com").rstrip("/")
    token = s.twilio_auth_token.get_secret_value() if s.twilio_auth_token else ""
    url = f"{base}/2010-04-01/Accounts/{s.twilio_account_sid}.json"
    try:
        import httpx  # only the doctor's HTTP checks need it

        response = httpx.get(url, auth=(s.twilio_account_sid, token), timeout=TIMEOUT)
    except Exception as exc:
        return Check("FAIL", "twilio", f"{base}: {_first_line(exc)}: check COMMS_TWILIO_API_URL")
    if response.status_code in (401, 403):
        return Check(
            "FAIL",
            "twilio",
            f"{base} refused the credentials ({response.status_code}): "
            "check COMMS_TWILIO_ACCOUNT_SID and COMMS_TWILIO_AUTH_TOKEN",
        )
    if response.status_code != 200:
        return Check(
            "FAIL", "twilio", f"{base} answered {response.status_code}: check COMMS_TWILIO_API_URL"
        )
    return Check("ok", "twilio", f"{base} accepted account {s.twilio_account_sid}")


def check_public_url(s: Settings) -> Check:
    url = s.public_url.rstrip("/") + "/healthz"
    try:
        import httpx

        response = httpx.get(url, timeout=TIMEOUT, follow_redirects=False)
    except Exception as exc:
        return Check(
            "FAIL",
            "public_url",
            f"{url}: {_first_line(exc)}: is `comms web` running, and COMMS_PUBLIC_URL its "
            "public address?",
        )
    if response.status_code != 200:
        return Check(
            "FAIL",
            "public_url",
            f"{url} answered {response.status_code}: COMMS_PUBLIC_URL must reach `comms web`",
        )
    return Check("ok", "public_url", f"{url} answers")


def check_disk(s: Settings) -> Check:
    folder = s.data_dir
    probe = folder if folder.exists() else folder.resolve().parent
    while not probe.exists():
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    free_gib = usage.free / (1 << 30)
    detail = f"{folder}: {free_gib:.1f} GiB free of {usage.total / (1 << 30):.1f} GiB"
    if usage.free < MIN_FREE or usage.free < usage.total * 0.05:
        return Check("FAIL", "disk", f"{detail}: free space under COMMS_DATA_DIR")
    return Check("ok", "disk", detail)


CHECKS: tuple[Callable[[Settings], Check], ...] = (
    check_database,
    check_broker,
    check_smtp,
    check_imap,
    check_twilio,
    check_public_url,
    check_disk,
)


def run_checks(s: Settings) -> list[Check]:
    out = []
    for check in CHECKS:
        try:
            out.append(check(s))
        except Exception as exc:  # a check's own bug: still one line
            out.append(Check("FAIL", check.__name__.removeprefix("check_"), _first_line(exc)))
    return out


def doctor_cmd() -> None:
    """Check every configured peer (database, broker, SMTP, IMAP, Twilio, the public URL,
    free disk): one line each, naming what to fix; exit 1 when one fails."""
    results = run_checks(settings())
    for check in results:
        style = {"ok": "green", "FAIL": "bold red", "skip": "dim"}[check.state]
        console.print(
            f"[{style}]{check.state:<5}[/{style}] {check.name:<10} {check.detail}",
            highlight=False,
            markup=True,
            soft_wrap=True,
        )
    if any(c.state == "FAIL" for c in results):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor_cmd)
