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


def self_signed(tmp_path):
    """A certificate for 127.0.0.1 and its key, as PEM files: (cert, key)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "smtp-cert.pem", tmp_path / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_mail_server(tmp_path):
    """A server that requires STARTTLS before any mail, with a certificate of its own CA; yields
    (server, the CA file lifecycle must be told to trust)."""
    import ssl

    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = MailServer()
    server.controller = Controller(server.recorder, hostname="127.0.0.1", port=server.port, tls_context=context,
                                   require_starttls=True)
    server.controller.start()
    yield server, str(cert)
    server.stop()
