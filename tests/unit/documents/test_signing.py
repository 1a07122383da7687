"""PAdES signatures on report PDFs: valid in pdfsig and pyHanko, invalid after one changed byte;
the instance's own CA on first start, or a certificate issued by the prefecture's CA."""
import io
import os
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from reportlab.pdfgen.canvas import Canvas

from lifecycle import crypto
from lifecycle.audit.events import EventType
from lifecycle.audit.services import events_for
from lifecycle.documents.signing import sign_pdf
from tests.signatures import check, tamper


def a_pdf() -> bytes:
    out = io.BytesIO()
    canvas = Canvas(out)
    canvas.drawString(72, 720, "kanribo")
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def test_init_creates_a_self_issued_ca_and_signing_certificate(app):
    where = crypto.document_signing(app.instance_path)
    assert os.stat(where.key).st_mode & 0o777 == 0o600
    assert os.stat(where.key.parent).st_mode & 0o777 == 0o700
    cert = x509.load_pem_x509_certificate(where.cert.read_bytes())
    (ca,) = x509.load_pem_x509_certificates(where.chain.read_bytes())
    cert.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment
    before = where.cert.read_bytes()
    crypto.ensure_keys(app.instance_path)  # every start: never a second certificate
    assert where.cert.read_bytes() == before


def test_a_signed_pdf_is_valid_in_pdfsig_and_pyhanko(app, tmp_path):
    signed = sign_pdf(a_pdf())
    verdict = check(signed, crypto.signing_ca_pem(app.instance_path), tmp_path / "ok")
    assert verdict.pdfsig_valid, verdict.pdfsig
    assert "Signature Type: ETSI.CAdES.detached" in verdict.pdfsig
    assert "Signing Time:" in verdict.pdfsig
    assert verdict.pyhanko_valid, verdict.pyhanko


def test_one_changed_byte_makes_both_report_it_invalid(app, tmp_path):
    broken = tamper(sign_pdf(a_pdf()))
    verdict = check(broken, crypto.signing_ca_pem(app.instance_path), tmp_path / "bad")
    assert "Signature Validation: Digest Mismatch." in verdict.pdfsig, verdict.pdfsig
    assert not verdict.pdfsig_valid
    assert ":INVALID" in verdict.pyhanko and verdict.pyhanko_exit != 0, verdict.pyhanko
    assert not verdict.pyhanko_valid


def _prefecture_ca():
    now = datetime.now(timezone.utc) - timedelta(minutes=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "県 内部認証局")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "市町課 文書署名")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now).not_valid_after(now + timedelta(days=365))
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return ca.public_bytes(pem), cert.public_bytes(pem), key_pem


def test_a_certificate_from_the_prefecture_s_ca_signs_from_then_on(app, runner, tmp_path):
    ca_pem, cert_pem, key_pem = _prefecture_ca()
    for name, data in (("ca.pem", ca_pem), ("cert.pem", cert_pem), ("key.pem", key_pem)):
        (tmp_path / name).write_bytes(data)
    result = runner.invoke(args=["keys", "install-signing-cert", "--cert", str(tmp_path / "cert.pem"),
                                 "--key", str(tmp_path / "key.pem"), "--chain", str(tmp_path / "ca.pem")])
    assert result.exit_code == 0, result.output
    assert "文書署名の証明書を登録しました" in result.output
    (event,) = [e for e in events_for("system") if e.type == EventType.SIGNING_CERT_INSTALLED]
    assert "市町課 文書署名" in event.data and "県 内部認証局" in event.data
    assert os.stat(crypto.document_signing(app.instance_path).key).st_mode & 0o777 == 0o600
    verdict = check(sign_pdf(a_pdf()), ca_pem, tmp_path / "pref")
    assert verdict.pdfsig_valid and "市町課 文書署名" in verdict.pdfsig, verdict.pdfsig
    assert verdict.pyhanko_valid, verdict.pyhanko
    exported = runner.invoke(args=["keys", "export-ca", str(tmp_path / "exported.pem")])
    assert exported.exit_code == 0 and (tmp_path / "exported.pem").read_bytes() == ca_pem


def test_a_key_that_is_not_the_certificate_s_is_refused_in_japanese(app, runner, tmp_path):
    _, cert_pem, _ = _prefecture_ca()
    _, _, other_key = _prefecture_ca()
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(other_key)
    before = crypto.document_signing(app.instance_path).cert.read_bytes()
    result = runner.invoke(args=["keys", "install-signing-cert", "--cert", str(tmp_path / "cert.pem"),
                                 "--key", str(tmp_path / "key.pem")])
    assert result.exit_code != 0
    assert "秘密鍵と証明書が対応していません" in result.output
    assert crypto.document_signing(app.instance_path).cert.read_bytes() == before


def test_a_chain_that_did_not_issue_the_certificate_is_refused(app, runner, tmp_path):
    _, cert_pem, key_pem = _prefecture_ca()
    other_ca, _, _ = _prefecture_ca()
    for name, data in (("ca.pem", other_ca), ("cert.pem", cert_pem), ("key.pem", key_pem)):
        (tmp_path / name).write_bytes(data)
    result = runner.invoke(args=["keys", "install-signing-cert", "--cert", str(tmp_path / "cert.pem"),
                                 "--key", str(tmp_path / "key.pem"), "--chain", str(tmp_path / "ca.pem")])
    assert result.exit_code != 0 and "発行者ではありません" in result.output


def test_the_ca_certificate_is_exported_for_pdf_readers(app, runner, tmp_path):
    result = runner.invoke(args=["keys", "export-ca", str(tmp_path / "ca.pem")])
    assert result.exit_code == 0, result.output
    (ca,) = x509.load_pem_x509_certificates((tmp_path / "ca.pem").read_bytes())
    assert "文書署名 CA" in ca.subject.rfc4514_string()
