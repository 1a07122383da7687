"""The SMTP conversation (smtplib) and its failures in Japanese. No database here: the outbox
(services.py) decides what to send and records what happened."""
from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

#: Seconds to wait for the server at each step: a mail server on the LAN answers at once.
TIMEOUT_SECONDS = 20


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    starttls: bool
    username: str | None
    password: str | None  #: in clear only for the length of one conversation
    sender: str
    #: CA certificates (PEM) that STARTTLS trusts instead of the system's: the prefecture's own CA.
    cafile: str | None = None


class SendError(Exception):
    """A failed SMTP step: `message` in Japanese for the admin; `permanent` when trying the same
    mail again cannot help (the server refused the address or the message itself)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


def _server_text(exc: smtplib.SMTPResponseException) -> str:
    raw = exc.smtp_error
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return f"{exc.smtp_code} {text}"[:200]


def explain(exc: BaseException, server: Server) -> SendError:
    """An SMTP or network failure as the admin needs to read it."""
    where = f"メールサーバー {server.host}:{server.port}"
    if isinstance(exc, SendError):
        return exc
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return SendError(f"{where} へのログインに失敗しました。利用者名とパスワードを確認してください"
                         f"（サーバーの応答: {_server_text(exc)}）。")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return SendError(f"{where} は STARTTLS またはログイン（AUTH）に対応していません。"
                         "STARTTLS とログインの設定を確認してください。")
    if isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code == 530:
        return SendError(f"{where} が STARTTLS による暗号化またはログインを求めています。STARTTLS とログインの設定を"
                         f"確認してください（サーバーの応答: {_server_text(exc)}）。")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = "、".join(f"{addr}: {code}" for addr, (code, _msg) in exc.recipients.items())[:200]
        permanent = all(code >= 500 for code, _msg in exc.recipients.values())
        return SendError(f"{where} が宛先を受け付けませんでした（{codes}）。", permanent=permanent)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return SendError(f"{where} が送信者アドレス {exc.sender} を受け付けませんでした"
                         f"（サーバーの応答: {_server_text(exc)}）。", permanent=exc.smtp_code >= 500)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return SendError(f"{where} との接続が途中で切れました。")
    if isinstance(exc, smtplib.SMTPResponseException):
        return SendError(f"{where} がエラーを返しました（サーバーの応答: {_server_text(exc)}）。",
                         permanent=exc.smtp_code >= 500)
    if isinstance(exc, ssl.SSLError):
        return SendError(f"{where} との STARTTLS による暗号化に失敗しました。サーバーの証明書を確認してください。")
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return SendError(f"{where} から{TIMEOUT_SECONDS}秒以内に応答がありませんでした。")
    if isinstance(exc, socket.gaierror):
        return SendError(f"メールサーバーのホスト名「{server.host}」が見つかりません。")
    if isinstance(exc, OSError):
        return SendError(f"{where} に接続できませんでした（サーバーが停止しているか、ポート番号が違います）。")
    return SendError(f"{where} への送信中にエラーが発生しました（{type(exc).__name__}）。")


def message(server: Server, *, to: str, subject: str, body: str, message_id: str) -> EmailMessage:
    """Plain Japanese text, UTF-8."""
    mail = EmailMessage()
    mail["From"] = server.sender
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = message_id
    mail.set_content(body, charset="utf-8")
    return mail


class Connection:
    """One SMTP session for a batch of mails: `with Connection(server) as smtp: smtp.send(mail)`."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.smtp: smtplib.SMTP | None = None

    def __enter__(self) -> "Connection":
        try:
            smtp = smtplib.SMTP(self.server.host, self.server.port, timeout=TIMEOUT_SECONDS)
            try:
                smtp.ehlo()
                if self.server.starttls:
                    smtp.starttls(context=ssl.create_default_context(cafile=self.server.cafile))
                    smtp.ehlo()
                if self.server.username:
                    try:
                        smtp.login(self.server.username, self.server.password or "")
                    except smtplib.SMTPServerDisconnected:  # some servers hang up on a wrong password
                        raise SendError(f"メールサーバー {self.server.host}:{self.server.port} へのログイン中に接続が"
                                        "切れました。利用者名とパスワードを確認してください。") from None
            except BaseException:
                smtp.close()
                raise
        except Exception as exc:
            raise explain(exc, self.server) from None
        self.smtp = smtp
        return self

    def send(self, mail: EmailMessage) -> None:
        try:
            self.smtp.send_message(mail)
        except Exception as exc:
            raise explain(exc, self.server) from None

    def __exit__(self, *_exc) -> None:
        try:
            self.smtp.quit()
        except Exception:  # the mails are sent or not already; a failed goodbye changes nothing
            self.smtp.close()
