"""The seam to comms.templating: SMS, voice prompts (per language) and call scripts."""

from __future__ import annotations

from typing import Any

from comms.templating import render_text, templates_dir

DEFAULT_LANGUAGE = "en"


def voice_path(name: str, language: str | None) -> str:
    lang = (language or DEFAULT_LANGUAGE).lower()
    path = f"voice/{lang}/{name}.txt"
    if not (templates_dir() / path).is_file():
        path = f"voice/{DEFAULT_LANGUAGE}/{name}.txt"
    return path


def has_voice(name: str | None) -> bool:
    """Whether a voice prompt `name` exists (in the default language, the one every prompt
    has)."""
    return bool(name) and (templates_dir() / f"voice/{DEFAULT_LANGUAGE}/{name}.txt").is_file()


def voice(name: str, context: dict[str, Any], language: str | None = None) -> str:
    return " ".join(render_text(voice_path(name, language), context).split())


def sms(name: str, context: dict[str, Any]) -> str:
    return render_text(f"sms/{name}.txt", context).strip()


def script(name: str, context: dict[str, Any]) -> str:
    return render_text(f"scripts/{name}.md", context).strip() + "\n"


def twilio_language(language: str | None) -> str:
    return {"en": "en-US", "es": "es-US", "fr": "fr-CA"}.get((language or "en").lower(), "en-US")
