"""TwiML built with twilio.twiml.voice_response; every spoken text comes from a template."""

from __future__ import annotations

from dataclasses import dataclass

from twilio.twiml.voice_response import Gather, VoiceResponse


@dataclass(frozen=True)
class Voice:
    """How to speak: Twilio's `language` attribute and the voice."""

    language: str = "en-US"
    voice: str = "Polly.Joanna"

    def say(self, response: VoiceResponse | Gather, text: str) -> None:
        if text:
            response.say(text, voice=self.voice, language=self.language)


def menu(
    response: VoiceResponse,
    voice: Voice,
    *,
    action: str,
    texts: list[str],
    num_digits: int | None = 1,
    finish_on_key: str | None = None,
    timeout: int = 6,
) -> None:
    gather = Gather(
        input="dtmf",
        action=action,
        method="POST",
        timeout=timeout,
        num_digits=num_digits,
        finish_on_key=finish_on_key,
        action_on_empty_result=False,
    )
    for text in texts:
        voice.say(gather, text)
    response.append(gather)


def goodbye(response: VoiceResponse, voice: Voice, *texts: str) -> VoiceResponse:
    for text in texts:
        voice.say(response, text)
    response.hangup()
    return response


def xml(response: VoiceResponse) -> str:
    return str(response.to_xml(xml_declaration=True))
