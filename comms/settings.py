"""One settings class. Sources, highest first: COMMS_* environment, a TOML file, defaults.

The TOML file is `--config PATH` (which sets COMMS_CONFIG), else `COMMS_CONFIG`, else
`config/comms.toml` when it exists. A wrong or placeholder value stops start-up with a
message that names the setting.
"""

from __future__ import annotations

import difflib
import os
import re
import secrets
import tomllib
from datetime import date, time
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from comms.errors import PermanentError

DEFAULT_CONFIG = Path("config/comms.toml")

MIN_SECRET = 16  # characters, for the signing key and staff tokens
PLACEHOLDERS = frozenset(
    {
        "changeme",
        "change-me",
        "change_me",
        "changethis",
        "secret",
        "password",
        "placeholder",
        "xxx",
        "todo",
        "your-secret-here",
        "replace-me",
        "example",
    }
)


class SettingsError(PermanentError):
    """A setting is wrong. The message names the COMMS_* variable."""

    code = "settings"


# variables of the COMMS_ prefix that are read elsewhere, not settings
OTHER_VARIABLES = frozenset({"COMMS_CONFIG", "COMMS_TEMPLATES_DIR"})
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# what Twilio takes as a sender besides a phone number: a short code, an alphanumeric sender id
_SHORT_CODE = re.compile(r"^\d{3,8}$")
_SENDER_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")


def parse_time_range(value: str) -> tuple[time, time]:
    """`HH:MM-HH:MM` (start before end), as `call_center_hours` is written."""
    try:
        start, end = (time.fromisoformat(part.strip()) for part in value.split("-", 1))
    except ValueError as exc:
        raise ValueError(f"expected HH:MM-HH:MM, got {value!r}") from exc
    if start.tzinfo is not None or end.tzinfo is not None:
        raise ValueError(f"write local times without a UTC offset, got {value!r}")
    if start >= end:
        raise ValueError(f"the start must be before the end in {value!r}")
    return start, end


def _phone_problem(value: str, region: str) -> str | None:
    """Why `value` is not a phone number one can dial (None: it is one)."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return f"not a phone number: {value!r}"
    if not phonenumbers.is_valid_number(number):
        return f"not a valid phone number in {region}: {value!r} (write it as +1…)"
    return None


def address_lines(value: str) -> list[str]:
    """A mailing address written on one line with `;` or on several lines, as its lines."""
    return [part.strip() for part in re.split(r"[\n;]", value) if part.strip()]


def _unknown_variables(environ: dict[str, str] | os._Environ[str]) -> list[str]:
    """COMMS_* environment variables that name no setting, each with the likeliest meant."""
    known = {f"COMMS_{name.upper()}" for name in Settings.model_fields} | OTHER_VARIABLES
    found = []
    for name in sorted(environ):
        upper = name.upper()
        if upper.startswith("COMMS_") and upper not in known:
            near = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.75)
            hint = f" (did you mean {near[0]}?)" if near else ""
            found.append(f"{name}: not a setting{hint}")
    return found


def _config_path() -> Path | None:
    explicit = os.environ.get("COMMS_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise SettingsError(f"COMMS_CONFIG: config file not found: {path}")
        return path
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def _is_placeholder(value: str) -> bool:
    lowered = value.strip().lower()
    return lowered in PLACEHOLDERS or lowered.startswith(("changeme", "<", "your-"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COMMS_", extra="forbid", validate_default=True)

    # --- core -----------------------------------------------------------------------------
    data_dir: Path = Path("var")
    database_url: str = ""
    broker_url: str = ""
    default_region: str = "US"
    timezone: str = "America/New_York"
    secret_key: SecretStr | None = None
    organization_name: str = "Compliance Team"
    # the certificate holder agents print on every certificate (box "CERTIFICATE HOLDER"):
    # its exact name and mailing address (lines separated by newlines); a requirement profile
    # may name its own
    holder_name: str = ""
    holder_address: str = ""
    # the additional-insured wording agents are asked for; {holder} is the holder's name
    additional_insured_wording: str = (
        "{holder}, its officers, employees and agents are included as additional insureds"
    )
    # the IVR status line vendors call with their vendor ID (default: none printed)
    ivr_number: str = ""
    support_email: str = "compliance@example.com"
    support_phone: str = ""
    client_contact_email: str = ""
    log_level: str = "INFO"

    # --- outbound email ------------------------------------------------------------------
    smtp_host: str = ""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: SecretStr | None = None
    smtp_tls: Literal["starttls", "implicit", "none"] = "none"
    smtp_ca_file: Path | None = None  # CA bundle for a relay with a private certificate
    smtp_connections: int = Field(default=4, ge=1, le=64)
    smtp_max_per_connection: int = Field(default=500, ge=1)
    smtp_rate_per_second: float = Field(default=0.0, ge=0.0)
    smtp_timeout: float = Field(default=30.0, gt=0, le=60)  # within a fifth of the send lease
    mail_from: str = "COI Compliance <coi@example.com>"
    reply_domain: str = "example.com"
    reply_local_part: str = "coi"
    outbox_dir: Path | None = None

    # --- inbound email --------------------------------------------------------------------
    imap_host: str = ""
    imap_port: int = Field(default=993, ge=1, le=65535)
    imap_ssl: bool = True
    imap_username: str = ""
    imap_password: SecretStr | None = None
    imap_folder: str = "INBOX"
    imap_processed_folder: str = "Processed"
    imap_quarantine_folder: str = "Quarantine"
    imap_batch_size: int = Field(default=50, ge=1, le=1000)  # messages per FETCH
    imap_idle_seconds: float = Field(default=300.0, gt=0, le=300)  # IDLE re-issued this often
    imap_poll_seconds: float = Field(default=5.0, gt=0)  # checks for processed mail in IDLE
    imap_timeout: float = Field(default=60.0, gt=0)  # socket timeout: a silent server is dead
    dropbox_dir: Path | None = None
    # a bigger message is stored raw and quarantined (`message_too_large`) without parsing;
    # `comms inbound retry --force ID` runs it again after the limit is raised
    max_message_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    max_attachment_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)

    # --- telephony ------------------------------------------------------------------------
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str = ""
    twilio_messaging_service_sid: str = ""
    twilio_api_url: str = ""
    public_url: str = "http://127.0.0.1:8000"
    call_center_number: str = ""
    call_center_hours: str = "09:00-17:00"
    call_reservation_minutes: int = Field(default=15, ge=1, le=240)  # a claimed call task
    caller_phones: dict[str, str] = Field(default_factory=dict)  # staff name → own phone

    # --- calendar -------------------------------------------------------------------------
    quiet_hours_start: time = time(8, 0)
    quiet_hours_end: time = time(21, 0)
    business_days: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])
    holidays: list[date] = Field(default_factory=list)

    # --- web ------------------------------------------------------------------------------
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8000, ge=1, le=65535)
    # slow clients: a request's headers must arrive within this many seconds, each part of
    # its body within `web_body_timeout`; at most `web_max_connections` open at once (503)
    web_header_timeout: float = Field(default=10.0, gt=0, le=300)
    web_body_timeout: float = Field(default=30.0, gt=0, le=600)
    web_max_connections: int = Field(default=500, ge=1)
    # the staff API's bearer tokens by staff name (`{"ann": "…"}`); none: the API is off
    staff_tokens: dict[str, SecretStr] = Field(default_factory=dict)
    # the workspace: a sign-in lasts this long (then the browser is sent to /login again)
    staff_session_hours: float = Field(default=12.0, gt=0, le=24 * 30)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_path()
        if path is not None:
            try:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
            except tomllib.TOMLDecodeError as exc:
                raise SettingsError(f"{path}: not valid TOML: {exc}") from None
            except UnicodeDecodeError:
                raise SettingsError(f"{path}: not UTF-8 text (TOML files are UTF-8)") from None
        return tuple(sources)

    # --- validators -------------------------------------------------------------------------
    @field_validator("data_dir")
    @classmethod
    def _check_data_dir(cls, value: Path) -> Path:
        if value.exists() and not value.is_dir():
            raise ValueError(
                f"{value} is a file, not a folder: name a folder (it holds the database, the"
                " outbox and the documents; it is created when missing)"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if value and not value.startswith(("sqlite:", "postgresql:", "postgresql+")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value

    @field_validator("broker_url")
    @classmethod
    def _check_broker_url(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "amqp://", "amqps://")):
            raise ValueError("must be empty (in-process), redis://… or amqp://…")
        return value

    @field_validator("default_region")
    @classmethod
    def _check_region(cls, value: str) -> str:
        value = value.upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {value!r}; use an ISO 3166 code such as US")
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("secret_key", "smtp_password", "imap_password", "twilio_auth_token")
    @classmethod
    def _refuse_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and _is_placeholder(value.get_secret_value()):
            raise ValueError("is a placeholder; set a real value")
        return value

    @field_validator("secret_key")
    @classmethod
    def _check_secret_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET:
            raise ValueError(f"must be at least {MIN_SECRET} characters")
        return value

    @field_validator("staff_tokens")
    @classmethod
    def _check_staff_tokens(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        seen: dict[str, str] = {}
        for name, token in value.items():
            secret = token.get_secret_value()
            if not name.strip():
                raise ValueError("a staff name is empty")
            if _is_placeholder(secret) or len(secret) < MIN_SECRET:
                raise ValueError(
                    f"the token of {name!r} is a placeholder or under {MIN_SECRET} characters"
                )
            if secret in seen:
                raise ValueError(f"{seen[secret]!r} and {name!r} have the same token")
            seen[secret] = name
        return value

    @field_validator("smtp_ca_file")
    @classmethod
    def _check_ca_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("business_days")
    @classmethod
    def _check_business_days(cls, value: list[int]) -> list[int]:
        if not value or any(d < 0 or d > 6 for d in value):
            raise ValueError("must list weekdays 0 (Monday) to 6 (Sunday)")
        return sorted(set(value))

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        if value.upper() not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}, not {value!r}")
        return value.upper()

    @field_validator("call_center_hours")
    @classmethod
    def _check_call_center_hours(cls, value: str) -> str:
        parse_time_range(value)
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _check_combinations(self) -> Settings:
        if self.quiet_hours_start >= self.quiet_hours_end:
            raise ValueError("quiet_hours_start must be before quiet_hours_end")
        if self.twilio_account_sid and self.twilio_auth_token is None:
            raise ValueError("twilio_auth_token is required when twilio_account_sid is set")
        if (
            self.twilio_account_sid
            and not self.twilio_from_number
            and not self.twilio_messaging_service_sid
        ):
            raise ValueError(
                "twilio_from_number or twilio_messaging_service_sid is required with Twilio"
            )
        if self.imap_host and not self.imap_username:
            raise ValueError("imap_username is required when imap_host is set")
        if self.smtp_host and not (self.holder_name.strip() and self.holder_address.strip()):
            raise ValueError(
                "COMMS_HOLDER_NAME and COMMS_HOLDER_ADDRESS are required with COMMS_SMTP_HOST:"
                " agents print them on every certificate as its holder"
            )
        for name in ("call_center_number", "support_phone", "ivr_number"):
            value = getattr(self, name)
            if value and (problem := _phone_problem(value, self.default_region)):
                raise ValueError(f"COMMS_{name.upper()}: {problem}")
        sender = self.twilio_from_number.removeprefix("whatsapp:")
        named = sender and (_SHORT_CODE.match(sender) or _SENDER_ID.match(sender))
        if sender and not named and (problem := _phone_problem(sender, self.default_region)):
            raise ValueError(f"COMMS_TWILIO_FROM_NUMBER: {problem}")
        return self

    # --- derived --------------------------------------------------------------------------
    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'comms.db').as_posix()}"

    @property
    def effective_outbox_dir(self) -> Path:
        return self.outbox_dir or self.data_dir / "outbox"

    @property
    def journal_dir(self) -> Path:
        """The workers' journals of server replies (`comms.outbox_journal`)."""
        return self.data_dir / "journal"

    @property
    def documents_dir(self) -> Path:
        return self.data_dir / "documents"

    @property
    def holder_address_lines(self) -> list[str]:
        return address_lines(self.holder_address)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def twilio_configured(self) -> bool:
        return bool(self.twilio_account_sid)

    def signing_key(self) -> bytes:
        """The HMAC key for reply tokens and other signatures.

        When COMMS_SECRET_KEY is not set, a random key is generated once and kept in
        `<data_dir>/secret.key`, so the embedded defaults work and stay stable.
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        return _key_file(os.path.join(self.data_dir, "secret.key"))


_KEYS: dict[tuple[str, int, int, int], bytes] = {}  # by the file's path, identity and mtime


def _key_file(path: str) -> bytes:
    """The key kept in `path` (created first if there is none), read again only when the file
    is replaced or changed: every message signs with it, and a stat costs far less than a
    read."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        _create_key(Path(path))
        st = os.stat(path)
    ident = (path, st.st_dev, st.st_ino, st.st_mtime_ns)
    key = _KEYS.get(ident)
    if key is None:
        key = Path(path).read_text().strip().encode()
        if not key:
            raise SettingsError(f"{path}: the secret key file is empty")
        if len(_KEYS) >= 16:
            _KEYS.clear()
        _KEYS[ident] = key
    return key


def _create_key(path: Path) -> None:
    """A new random key in `path`. It is written to a file of its own and linked into place,
    so that a process starting at the same time reads either no file or the whole key, and
    both keep the one that was linked first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
        os.link(fresh, path)
    except FileExistsError:
        pass  # another process linked its key first: that one is kept
    except OSError as exc:  # e.g. a file system without hard links
        raise SettingsError(
            f"{path}: cannot create the secret key ({exc.strerror}); set COMMS_SECRET_KEY"
        ) from None
    finally:
        fresh.unlink()


def _describe(error: dict[str, Any]) -> str:
    loc = [str(part) for part in error.get("loc", ())]
    message = str(error.get("msg", "invalid value"))
    if not loc:  # a check across settings: its message names them
        return message.removeprefix("Value error, ")
    return f"COMMS_{loc[0].upper()}: {message.removeprefix('Value error, ')}"


def load_settings(**overrides: Any) -> Settings:
    """Load settings, turning validation errors into a SettingsError naming the setting. A
    COMMS_* variable that names no setting (a typo would otherwise be ignored) is one too."""
    unknown = _unknown_variables(os.environ)
    if unknown:
        raise SettingsError("invalid settings: " + "; ".join(unknown))
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(_describe(dict(err)) for err in exc.errors())
        raise SettingsError(f"invalid settings: {problems}") from None
    except (OSError, ValueError) as exc:  # e.g. a TOML syntax error, a list that is not JSON
        raise SettingsError(f"invalid settings: {_name_env_field(str(exc))}") from None


_ENV_PARSE = re.compile(r'error parsing value for field "(\w+)" from source "EnvSettingsSource"')


def _name_env_field(message: str) -> str:
    """pydantic-settings names a list or table setting whose environment value is not JSON by
    its field; the user set the variable."""
    found = _ENV_PARSE.search(message)
    if found is None:
        return message
    return f"COMMS_{found.group(1).upper()}: not valid JSON (a list or table is written as JSON)"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def reset_settings_cache() -> None:
    get_settings.cache_clear()
