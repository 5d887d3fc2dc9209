"""The fault tests' SMTP server fixture is the email suite's."""

from tests.email.conftest import smtp, smtp_server

__all__ = ["smtp", "smtp_server"]
