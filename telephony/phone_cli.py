"""`comms phone call|answer|text|inbox`: the sandbox phone on the command line.

The app runs in-process (the root passes its factory: `make_app(settings, clock)`), and the
TwiML interpreter plays Twilio's side against it, so a call here is the call Twilio would make.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer
from sqlmodel import Session

from comms.cli.context import console, engine, fail, now_option, settings
from comms.settings import Settings

if TYPE_CHECKING:
    from telephony.interpreter import Poster, Transcript

# The sandbox phone and the interpreter (which pull in the web stack) are imported by the
# commands that use them, so that every other `comms` command starts without them.

MakeApp = Callable[[Settings, Callable[[], datetime]], Any]

phone_app = typer.Typer(
    help="The sandbox phone: call the IVR line, answer the sandbox's calls, text, read texts.",
    no_args_is_help=True,
)
_make_app: list[MakeApp] = []


@contextmanager
def _poster(now: datetime) -> Iterator[Poster]:
    # imported here: the test client pulls in httpx and more, which no other command needs
    from starlette.testclient import TestClient

    from telephony.interpreter import http_poster

    app = _make_app[0](settings(), lambda: now)
    with TestClient(app, base_url="http://sandbox.local") as client:
        yield http_poster(client)


def _presses(value: str) -> list[str]:
    return [p.strip() for p in value.split(",")] if value else []


def _print(transcript: Transcript) -> None:
    console.print(transcript.text(), markup=False, highlight=False)
    if transcript.failures:
        raise typer.Exit(1)


@phone_app.command("call")
def call(
    from_number: str = typer.Option(..., "--from", help="The number to call from."),
    to: str = typer.Option("IVR", "--to", help="IVR (the line vendors call)."),
    press: str = typer.Option("", "--press", help="Keys per prompt, comma-separated: 1,9"),
    machine: bool = typer.Option(False, "--machine", help="An answering machine calls."),
    now: str | None = typer.Option(None, "--now", help="ISO time (default: now)."),
) -> None:
    """Call the IVR line and print the transcript (exit 1 when a webhook failed)."""
    from telephony import sandbox_phone
    from telephony.interpreter import InterpreterError

    s = settings()
    if to.upper() != "IVR" and to != sandbox_phone.line_number(s):
        raise fail(f"--to: only the IVR line can be called ({sandbox_phone.line_number(s)})")
    when = now_option(now)
    try:
        with _poster(when) as post:
            transcript = sandbox_phone.call_ivr(
                s, post, from_number, presses=_presses(press), machine=machine
            )
    except (sandbox_phone.PhoneError, InterpreterError) as exc:
        raise fail(str(exc)) from None
    _print(transcript)


@phone_app.command("answer")
def answer(
    number: str = typer.Option(..., "--number", help="The number the sandbox called."),
    press: str = typer.Option("", "--press", help="Keys per prompt, comma-separated."),
    machine: bool = typer.Option(False, "--machine", help="An answering machine answers."),
    now: str | None = typer.Option(None, "--now", help="ISO time (default: now)."),
) -> None:
    """Answer the sandbox's newest reminder call to NUMBER and print the transcript."""
    from telephony import sandbox_phone
    from telephony.interpreter import InterpreterError

    s = settings()
    when = now_option(now)
    try:
        with Session(engine(), expire_on_commit=False) as session:
            delivery = sandbox_phone.ringing(session, number, settings=s)
        if delivery is None:
            raise fail(f"no call is ringing at {number}")
        with _poster(when) as post:
            transcript = sandbox_phone.answer_call(
                s, post, delivery, presses=_presses(press), machine=machine
            )
    except (sandbox_phone.PhoneError, InterpreterError) as exc:
        raise fail(str(exc)) from None
    _print(transcript)


@phone_app.command("text")
def text(
    from_number: str = typer.Option(..., "--from", help="The number the text comes from."),
    body: str = typer.Option(..., "--body", help="The text: STOP, HELP, START, …"),
    now: str | None = typer.Option(None, "--now", help="ISO time (default: now)."),
) -> None:
    """Text the line from a number and print the replies."""
    from telephony import sandbox_phone

    s = settings()
    try:
        with _poster(now_option(now)) as post:
            sent = sandbox_phone.send_text(s, post, from_number, body)
    except sandbox_phone.PhoneError as exc:
        raise fail(str(exc)) from None
    if sent.status != 200:
        raise fail(f"the text webhook answered HTTP {sent.status}", 1)
    console.print(f"text {sent.sid} sent.", highlight=False)
    for reply in sent.replies:
        console.print(f"reply: {reply}", markup=False, highlight=False)


@phone_app.command("inbox")
def inbox(number: str = typer.Option(..., "--number", help="Whose inbox.")) -> None:
    """The texts and calls NUMBER received from the sandbox, and the texts it sent."""
    from telephony import sandbox_phone

    s = settings()
    try:
        with Session(engine()) as session:
            items = sandbox_phone.inbox(session, number, settings=s)
    except sandbox_phone.PhoneError as exc:
        raise fail(str(exc)) from None
    if not items:
        console.print(f"nothing for {number}.", highlight=False)
    zone = s.zone
    for item in items:
        when = item.at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        console.print(
            f"{when}  {item.kind:<9}  {item.status:<10}  {item.text}", markup=False, highlight=False
        )


def register(app: typer.Typer, *, make_app: MakeApp) -> None:
    _make_app[:] = [make_app]
    app.add_typer(phone_app, name="phone")
