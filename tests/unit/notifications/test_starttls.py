"""STARTTLS against a server that requires it, with the prefecture's own CA (MAIL_CA_FILE)."""
from __future__ import annotations

import pytest

from lifecycle.errors import Conflict
from lifecycle.notifications import services


def test_starttls_with_the_configured_ca_sends(app, world, tls_mail_server, configure_mail):
    server, cafile = tls_mail_server
    app.config["MAIL_CA_FILE"] = cafile
    configure_mail(server, starttls=True)
    services.send_test_mail(world["admin"], "admin@pref.example.lg.jp")
    assert [m.rcpt_tos for m in server.received] == [["admin@pref.example.lg.jp"]]


def test_a_certificate_not_trusted_is_refused_in_japanese(app, world, tls_mail_server, configure_mail):
    server, _cafile = tls_mail_server
    configure_mail(server, starttls=True)
    with pytest.raises(Conflict) as refused:
        services.send_test_mail(world["admin"], "admin@pref.example.lg.jp")
    assert "STARTTLS による暗号化に失敗しました" in refused.value.message
    assert server.received == []


def test_without_starttls_a_server_that_requires_it_says_so(app, world, tls_mail_server, configure_mail):
    server, _cafile = tls_mail_server
    configure_mail(server, starttls=False)
    with pytest.raises(Conflict) as refused:
        services.send_test_mail(world["admin"], "admin@pref.example.lg.jp")
    assert "STARTTLS による暗号化またはログインを求めています" in refused.value.message
    assert server.received == []


def test_starttls_asked_of_a_server_without_it_says_so(world, mail_server, configure_mail):
    configure_mail(mail_server, starttls=True)
    with pytest.raises(Conflict) as refused:
        services.send_test_mail(world["admin"], "admin@pref.example.lg.jp")
    assert "STARTTLS" in refused.value.message and "対応していません" in refused.value.message
