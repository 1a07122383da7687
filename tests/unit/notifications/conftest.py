"""A real SMTP server for the notification tests: aiosmtpd on 127.0.0.1, on a free port, that
can be stopped and started again on the same port (the mail server going down and coming back)."""
from __future__ import annotations

import email
import email.policy
import socket
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from lifecycle.notifications import services


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: email.message.EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        return self.message.get_content()


@dataclass
class Recorder:
    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"


class MailServer:
    """server.received: every mail the server accepted; stop() and start() keep the port."""

    def __init__(self, *, login: tuple[str, str] | None = None) -> None:
        self.port = free_port()
        self.recorder = Recorder()
        self.login = login
        self.controller: Controller | None = None

    @property
    def received(self) -> list[Received]:
        return self.recorder.received

    def _authenticate(self, _server, _session, _envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and self.login is not None and \
            (data.login.decode(), data.password.decode()) == self.login
        return AuthResult(success=ok, handled=False)

    def start(self) -> None:
        extra = {}
        if self.login is not None:
            extra = {"authenticator": self._authenticate, "auth_require_tls": False,
                     "auth_exclude_mechanism": ["LOGIN"]}  # one mechanism: its 535 is the answer
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port, **extra)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def mail_server():
    server = MailServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def configure_mail(world):
    """configure_mail(server) points lifecycle at a test server, as an admin would."""
    def configure(server: MailServer, **overrides):
        data = {"host": "127.0.0.1", "port": server.port, "starttls": False, "sender": "lifecycle@pref.example.lg.jp",
                "enabled": True, **overrides}
        return services.save_settings(world["admin"], data)

    return configure


@pytest.fixture
def addresses(world):
    """Every demo user gets <login>@pref.example.lg.jp."""
    for login in world:
        services.set_email(world["admin"], login, f"{login}@pref.example.lg.jp")
    return {login: f"{login}@pref.example.lg.jp" for login in world}
