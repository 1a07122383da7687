"""The forms of a device's erasure section. They render the fields, keep what was typed and carry
the CSRF token; every rule (and every Japanese refusal) is the service's, as for the API."""
from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectField, SelectMultipleField, StringField


def _select(label: str) -> SelectField:
    # validate_choice=False: an unknown value reaches the service, which refuses it in Japanese.
    return SelectField(label, choices=[], validate_choice=False)


class ErasureRequestForm(FlaskForm):
    reason = _select("理由")
    note = StringField("備考")


class CertificateForm(FlaskForm):
    """The vendor's certificate with the NIST SP 800-88 fields (services.submit_certificate)."""
    file = FileField("証明書（PDF）")
    contractor = _select("消去を行った委託先")
    certificate_no = StringField("証明書番号")
    method = _select("消去方法（消去レベル）")
    method_used = _select("消去の手法")
    media = SelectMultipleField("対象の記憶装置（すべて消去されるまで消去証明済みになりません）", choices=[],
                                validate_choice=False)
    media_type = StringField("記憶媒体の種類")
    tool = StringField("消去ツール")
    tool_version = StringField("ツールのバージョン")
    verification = StringField("検証方法")
    verification_result = StringField("検証結果")
    performed_on = StringField("消去実施日")
    performed_by = StringField("作業者（氏名）")
    performed_by_title = StringField("作業者の役職")
    performed_by_organisation = StringField("作業者の所属（委託先以外なら再委託の承認が必要）")
    destination = StringField("記憶装置の行き先")
    #: The service names the level "level" (the API's word) and a vendor given as text "vendor".
    service_names = {"level": "method", "vendor": "contractor"}

    def service_data(self) -> dict:
        data = {name: self[name].data for name in (
            "contractor", "certificate_no", "method", "method_used", "media_type", "tool", "tool_version",
            "verification", "verification_result", "performed_on", "performed_by", "performed_by_title",
            "performed_by_organisation", "destination")}
        # The media as the API takes them, a list in one text; none ticked is none named (all of them).
        data["media"] = ",".join(self.media.data or [])
        return data

    def upload(self) -> tuple:
        """(stream, filename) of the chosen PDF; (None, None) when none was chosen."""
        upload = self.file.data
        if upload and getattr(upload, "filename", ""):
            return upload.stream, upload.filename
        return None, None


class CertificateRejectForm(FlaskForm):
    reason = StringField("差戻しの理由")
