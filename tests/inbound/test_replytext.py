from inbound.replytext import new_text

REPLY = """Renewal in progress, will send Friday.

Thanks,
Bob
--
Bob Agent
Acme Insurance

On Mon, Nov 2, 2026 at 9:00 AM COI Team <coi@example.org> wrote:
> Please send the certificate.
"""


def test_quoted_history_and_signature_removed() -> None:
    text = new_text(REPLY)
    assert text.startswith("Renewal in progress, will send Friday.")
    assert "Please send" not in text
    assert "Acme Insurance" not in text


def test_plain_text_kept() -> None:
    assert new_text("Attached.\n") == "Attached."
