"""Sandboxed Jinja2 templates: email (subject, text, HTML), SMS, voice and call scripts.

Templates are data in the repository's `templates/` folder. The environment is sandboxed so a
template edited by an operator cannot reach Python internals, undefined variables are strict,
HTML (and only HTML) is autoescaped, and a value that is None can never be printed: every
error is a `TemplateError` that names the template and the line.

An email named NAME is three files in `templates/email/`: `NAME.subject.txt`, `NAME.txt` and
`NAME.html`; the text and HTML parts extend the shared layouts `_layout.txt` and `_layout.html`.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment, SecurityError
from jinja2.utils import internalcode

import comms
from comms.coverage import coverage_name, limit_name, money
from comms.errors import PermanentError

DEFAULT_TEMPLATES_DIR = Path(comms.__file__).resolve().parent.parent / "templates"
TEMPLATES_ENV = "COMMS_TEMPLATES_DIR"
WEB_FOLDER = "web"  # the workspace's pages (comms.app.workspace), not message templates


class TemplateError(PermanentError):
    """A template could not be rendered. The message names the template and the line."""

    code = "template"

    def __init__(self, template: str, line: int | None, message: str) -> None:
        self.template = template
        self.line = line
        self.detail = message
        where = f"{template}:{line}" if line else template
        super().__init__(f"{where}: {message}")


class TemplateSecurityError(TemplateError, SecurityError):
    """A template tried to reach something the sandbox forbids."""


class TemplateNotFound(TemplateError):
    """No such template."""


class NoneValueError(PermanentError):
    """Raised by the finalize hook: a template printed a value that is None."""

    code = "template_none"


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


# --- filters -------------------------------------------------------------------------------


def _money(value: Any) -> str:
    if value is None:
        raise NoneValueError("money value is None")
    return money(int(value))


def _long_date(value: Any) -> str:
    """`January 5, 2027`. Accepts a date, an aware datetime or an ISO string."""
    if value is None:
        raise NoneValueError("date value is None")
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = value.date()
    if not isinstance(value, date):
        raise TypeError(f"not a date: {value!r}")
    return f"{value:%B} {value.day}, {value.year}"


def _coverage(value: Any, label: str | None = None) -> str:
    if value is None:
        raise NoneValueError("coverage is None")
    return coverage_name(str(value), label)


def _limit(value: Any) -> str:
    if value is None:
        raise NoneValueError("limit is None")
    return limit_name(str(value))


def _finalize(value: Any) -> Any:
    if value is None:
        raise NoneValueError("a value printed by the template is None")
    return value


# --- environment ---------------------------------------------------------------------------


def templates_dir() -> Path:
    """The templates folder: COMMS_TEMPLATES_DIR when set, else the repository's `templates/`."""
    override = os.environ.get(TEMPLATES_ENV)
    return Path(override) if override else DEFAULT_TEMPLATES_DIR


def environment(folder: Path | None = None) -> SandboxedEnvironment:
    return _environment(_resolved(str(folder or templates_dir())))


@lru_cache(maxsize=32)
def _resolved(folder: str) -> str:
    return str(Path(folder).resolve())


RELOAD_CHECK_SECONDS = 2.0


class _Loader(FileSystemLoader):
    """Templates from a folder, re-read when their file changes — checked at most every
    RELOAD_CHECK_SECONDS per template, not on every render (a message renders eight files)."""

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        checked = [time.monotonic(), True]

        def throttled() -> bool:
            now = time.monotonic()
            if now - checked[0] >= RELOAD_CHECK_SECONDS:
                checked[0], checked[1] = now, uptodate()
            return bool(checked[1])

        return source, filename, throttled


_DICT_ATTRIBUTES = frozenset(dir(dict))


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox — immutable: a template cannot change the data it is given, which many
    renders share — with a shortcut for the plain dicts a context is made of: `x.name` on a
    dict whose type has no attribute `name` is `x["name"]`, as the sandbox would find it,
    without first failing an attribute lookup (a template reads hundreds per message)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loaded: dict[str, jinja2.Template] = {}

    @internalcode
    def _load_template(
        self, name: str, globals: MutableMapping[str, Any] | None
    ) -> jinja2.Template:
        """Jinja's lookup, with a plain dict in front of its locked LRU cache: a message's
        includes ask for their templates about a dozen times per render. The template is
        still re-read when its file changes (`is_up_to_date`, throttled by `_Loader`)."""
        if not globals:
            template = self._loaded.get(name)
            if template is not None and template.is_up_to_date:
                return template
        template = super()._load_template(name, globals)
        if not globals:
            self._loaded[name] = template
        return template

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


@lru_cache(maxsize=8)
def _environment(folder: str) -> SandboxedEnvironment:
    env = _Sandbox(
        loader=_Loader(folder),
        undefined=StrictUndefined,
        autoescape=select_autoescape(
            enabled_extensions=("html", "htm"), default_for_string=False, default=False
        ),
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=True,
    )
    env.filters["money"] = _money
    env.filters["long_date"] = _long_date
    env.filters["date"] = _long_date
    env.filters["coverage"] = _coverage
    env.filters["limit"] = _limit
    return env


def _template_line(exc: BaseException, folder: str) -> tuple[str | None, int | None]:
    """The innermost traceback frame that belongs to a template file: (name, line)."""
    found: tuple[str | None, int | None] = (None, None)
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        filename = frame.f_code.co_filename
        if filename.startswith(folder):
            found = (os.path.relpath(filename, folder), lineno)
    return found


def _render(
    env: SandboxedEnvironment, name: str, context: dict[str, Any], *, merged: bool = False
) -> str:
    """Render `name` with `context`; `merged`: the context already holds the environment's
    globals, and is used as it is instead of copied with them (`Template.render` copies it
    for every template)."""
    folder = str(env.loader.searchpath[0]) if isinstance(env.loader, FileSystemLoader) else ""
    try:
        template = env.get_template(name)
        if not merged:
            return template.render(context)
        try:
            return env.concat(template.root_render_func(template.new_context(context, shared=True)))
        except Exception:
            env.handle_exception()  # template lines in the traceback, as `render` does
    except jinja2.TemplateNotFound as exc:
        raise TemplateNotFound(name, None, f"template not found: {exc.name}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(exc.name or name, exc.lineno, f"syntax error: {exc.message}") from None
    except SecurityError as exc:
        found, line = _template_line(exc, folder)
        raise TemplateSecurityError(found or name, line, f"forbidden by the sandbox: {exc}") from (
            None
        )
    except jinja2.UndefinedError as exc:
        found, line = _template_line(exc, folder)
        raise TemplateError(found or name, line, f"undefined variable: {exc.message}") from None
    except NoneValueError as exc:
        found, line = _template_line(exc, folder)
        raise TemplateError(found or name, line, f"refusing to print None: {exc}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
        found, line = _template_line(exc, folder)
        raise TemplateError(found or name, line, f"{type(exc).__name__}: {exc}") from None


def render_text(path: str, context: dict[str, Any], *, folder: Path | None = None) -> str:
    """Render one template by its path under the templates folder, e.g. "sms/reminder.txt"."""
    return _render(environment(folder), path, context)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def render_email(
    name: str, context: dict[str, Any], *, folder: Path | None = None
) -> RenderedEmail:
    """Render `email/NAME.subject.txt`, `email/NAME.txt` and `email/NAME.html`."""
    env = environment(folder)
    shared = {**env.globals, **context}  # merged once for the three templates
    subject = _one_line(_render(env, f"email/{name}.subject.txt", shared, merged=True))
    if not subject:
        raise TemplateError(f"email/{name}.subject.txt", None, "the subject is empty")
    text = _render(env, f"email/{name}.txt", shared, merged=True)
    html = _render(env, f"email/{name}.html", shared, merged=True)
    return RenderedEmail(subject=subject, text=text.strip() + "\n", html=html)


def email_template_names(folder: Path | None = None) -> list[str]:
    """Every email template (a NAME with a `NAME.subject.txt`), sorted."""
    base = (folder or templates_dir()) / "email"
    return sorted(
        p.name.removesuffix(".subject.txt")
        for p in base.glob("*.subject.txt")
        if not p.name.startswith("_")
    )


def all_template_paths(folder: Path | None = None) -> list[str]:
    """Every template file under the folder (layouts and partials excluded), as loader paths.
    `web/` is the staff workspace's pages and static files, served by the web app, not
    messages."""
    base = folder or templates_dir()
    out: list[str] = []
    for p in sorted(base.rglob("*")):
        if p.relative_to(base).parts[0] == WEB_FOLDER:
            continue
        if p.is_file() and not p.name.startswith(("_", ".")) and p.suffix != ".yaml":
            out.append(p.relative_to(base).as_posix())
    return out
