from __future__ import annotations

from pathlib import Path

import pytest

from comms.settings import SettingsError, load_settings, reset_settings_cache


def test_defaults_are_embedded(_isolated_settings: Path) -> None:
    s = load_settings()
    assert s.effective_database_url.startswith("sqlite:///")
    assert s.effective_database_url.endswith("comms.db")
    assert s.broker_url == ""
    assert s.default_region == "US"
    assert s.effective_outbox_dir == s.data_dir / "outbox"


def test_environment_beats_toml_beats_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "comms.toml"
    toml.write_text('default_region = "GB"\ntimezone = "Europe/London"\n')
    monkeypatch.setenv("COMMS_CONFIG", str(toml))
    s = load_settings()
    assert s.default_region == "GB"
    assert s.timezone == "Europe/London"
    monkeypatch.setenv("COMMS_DEFAULT_REGION", "ca")
    s = load_settings()
    assert s.default_region == "CA"  # env wins, normalized
    assert s.timezone == "Europe/London"  # toml still applies


@pytest.mark.parametrize(
    ("var", "value", "named"),
    [
        ("COMMS_SECRET_KEY", "changeme", "COMMS_SECRET_KEY"),
        ("COMMS_SECRET_KEY", "short", "COMMS_SECRET_KEY"),
        ("COMMS_DATABASE_URL", "mysql://x", "COMMS_DATABASE_URL"),
        ("COMMS_BROKER_URL", "kafka://x", "COMMS_BROKER_URL"),
        ("COMMS_DEFAULT_REGION", "XX", "COMMS_DEFAULT_REGION"),
        ("COMMS_TIMEZONE", "Mars/Olympus", "COMMS_TIMEZONE"),
        ("COMMS_SMTP_PORT", "99999", "COMMS_SMTP_PORT"),
        ("COMMS_SMTP_TLS", "maybe", "COMMS_SMTP_TLS"),
        ("COMMS_SMTP_PASSWORD", "password", "COMMS_SMTP_PASSWORD"),
        ("COMMS_LOG_LEVEL", "LOUD", "COMMS_LOG_LEVEL"),
        ("COMMS_CALL_CENTER_HOURS", "9-5", "COMMS_CALL_CENTER_HOURS"),
        ("COMMS_CALL_CENTER_HOURS", "17:00-09:00", "COMMS_CALL_CENTER_HOURS"),
        ("COMMS_CALL_CENTER_HOURS", "09:00-17:00Z", "COMMS_CALL_CENTER_HOURS"),
        ("COMMS_CALL_CENTER_HOURS", "09:00-17:00-18:00", "COMMS_CALL_CENTER_HOURS"),
        ("COMMS_CALL_CENTER_HOURS", "09:00+01:00-17:00+01:00", "COMMS_CALL_CENTER_HOURS"),
        ("COMMS_CALL_CENTER_NUMBER", "call-me", "COMMS_CALL_CENTER_NUMBER"),
        ("COMMS_SUPPORT_PHONE", "555", "COMMS_SUPPORT_PHONE"),
        ("COMMS_TWILIO_FROM_NUMBER", "not-a-number", "COMMS_TWILIO_FROM_NUMBER"),
        ("COMMS_SMTP_HOTS", "mail.example.com", "COMMS_SMTP_HOTS"),
    ],
)
def test_wrong_or_placeholder_values_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, named: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert named in str(info.value)


def test_missing_config_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COMMS_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(SettingsError, match="COMMS_CONFIG"):
        load_settings()


def test_unknown_toml_key_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    toml = tmp_path / "comms.toml"
    toml.write_text('smtp_hots = "mail"\n')
    monkeypatch.setenv("COMMS_CONFIG", str(toml))
    with pytest.raises(SettingsError, match="SMTP_HOTS"):
        load_settings()


def test_signing_key_is_generated_once_and_kept(_isolated_settings: Path) -> None:
    s = load_settings()
    first = s.signing_key()
    assert len(first) >= 32
    assert load_settings().signing_key() == first
    assert (_isolated_settings / "secret.key").stat().st_mode & 0o777 == 0o600


def test_cli_reports_bad_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from comms.app.cli import app

    monkeypatch.setenv("COMMS_DEFAULT_REGION", "ZZ")
    reset_settings_cache()
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 2
    assert "COMMS_DEFAULT_REGION" in result.output


def test_signing_key_follows_a_replaced_key_file(_isolated_settings: Path) -> None:
    s = load_settings()
    first = s.signing_key()
    path = _isolated_settings / "secret.key"
    replacement = path.with_name("new.key")
    replacement.write_text("rotated-key-of-enough-length-0123456789abcdef\n")
    replacement.replace(path)
    assert s.signing_key() == b"rotated-key-of-enough-length-0123456789abcdef"
    assert s.signing_key() != first


def test_two_processes_creating_the_key_keep_one(_isolated_settings: Path) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        keys = pool.map(_key_in_child, [str(_isolated_settings)] * 8)
    assert len(set(keys)) == 1
    assert load_settings().signing_key().decode() == keys[0]
    assert [p.name for p in _isolated_settings.iterdir() if "key" in p.name] == ["secret.key"]


def _key_in_child(data_dir: str) -> str:
    return load_settings(data_dir=Path(data_dir)).signing_key().decode()


def test_empty_key_file_is_refused_by_name(_isolated_settings: Path) -> None:
    _isolated_settings.mkdir(parents=True, exist_ok=True)
    (_isolated_settings / "secret.key").write_text("\n")
    with pytest.raises(SettingsError, match=r"secret\.key: the secret key file is empty"):
        load_settings().signing_key()


def test_staff_tokens_from_environment_and_toml(
    _isolated_settings: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("COMMS_STAFF_TOKENS", '{"ann": "ann-token-0123456789abcdef"}')
    tokens = load_settings().staff_tokens
    assert {n: t.get_secret_value() for n, t in tokens.items()} == {
        "ann": "ann-token-0123456789abcdef"
    }
    assert "ann-token" not in repr(load_settings())
    monkeypatch.delenv("COMMS_STAFF_TOKENS")
    toml = tmp_path / "comms.toml"
    toml.write_text('[staff_tokens]\nbob = "bob-token-0123456789abcdef"\n')
    monkeypatch.setenv("COMMS_CONFIG", str(toml))
    assert list(load_settings().staff_tokens) == ["bob"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"ann": "short"}', "the token of 'ann' is a placeholder or under 16 characters"),
        ('{"ann": "changeme-changeme-changeme"}', "'ann' is a placeholder"),
        ('{"": "a-token-0123456789abcdef"}', "a staff name is empty"),
        (
            '{"ann": "same-token-0123456789abcdef", "bob": "same-token-0123456789abcdef"}',
            "'ann' and 'bob' have the same token",
        ),
        ('["ann"]', "COMMS_STAFF_TOKENS"),
    ],
)
def test_bad_staff_tokens_are_refused_by_name(
    _isolated_settings: Path, monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("COMMS_STAFF_TOKENS", value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "COMMS_STAFF_TOKENS" in str(caught.value)
    assert message in str(caught.value)
    assert "0123456789abcdef" not in str(caught.value)


def test_key_file_that_cannot_be_created_is_a_clear_error(
    _isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    def no_links(src: object, dst: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    with pytest.raises(SettingsError, match=r"cannot create the secret key .* COMMS_SECRET_KEY"):
        load_settings().signing_key()
    assert list(_isolated_settings.iterdir()) == []  # no half-made file left behind


@pytest.mark.parametrize("name", ["COMMS_STAFF_TOKENS", "COMMS_HOLIDAYS"])
def test_environment_value_that_is_not_json_is_refused_by_name(
    _isolated_settings: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "not json")
    with pytest.raises(SettingsError, match=f"{name}: not valid JSON"):
        load_settings()


def test_a_misspelled_variable_is_refused_with_the_likely_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COMMS_SMTP_HOTS", "mail.example.com")
    with pytest.raises(
        SettingsError, match=r"COMMS_SMTP_HOTS: not a setting \(did you mean COMMS_SMTP_HOST\?\)"
    ):
        load_settings()


@pytest.mark.parametrize("sender", ["+12125550123", "ACME Co", "12345", "whatsapp:+12125550123"])
def test_twilio_senders_are_numbers_short_codes_or_sender_ids(
    monkeypatch: pytest.MonkeyPatch, sender: str
) -> None:
    monkeypatch.setenv("COMMS_TWILIO_FROM_NUMBER", sender)
    monkeypatch.setenv("COMMS_LOG_LEVEL", "debug")
    s = load_settings()
    assert s.twilio_from_number == sender and s.log_level == "DEBUG"


def test_a_toml_file_that_does_not_parse_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    toml = tmp_path / "comms.toml"
    toml.write_text('default_region = "GB"\nholidays = [\n')
    monkeypatch.setenv("COMMS_CONFIG", str(toml))
    with pytest.raises(SettingsError, match=f"{toml}: not valid TOML"):
        load_settings()
    toml.write_bytes(b'organization_name = "Caf\xe9"\n')
    with pytest.raises(SettingsError, match=f"{toml}: not UTF-8"):
        load_settings()
