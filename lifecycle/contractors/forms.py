"""The register's page forms. They render the fields, keep what was typed and carry the CSRF
token; every rule (and every Japanese refusal) is the service's, as for the API."""
from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectMultipleField, StringField, TextAreaField


def _choices(label: str) -> SelectMultipleField:
    # validate_choice=False: an unknown value reaches the service, which refuses it in Japanese.
    return SelectMultipleField(label, choices=[], validate_choice=False)


def _upload(field) -> tuple | None:
    """(stream, filename) of the chosen file, or None when none was chosen."""
    upload = field.data
    return (upload.stream, upload.filename) if upload and getattr(upload, "filename", "") else None


class ContractForm(FlaskForm):
    """A renewed or amended contract, on the contractor's page (services.add_contract)."""
    number = StringField("契約番号")
    start = StringField("契約開始日")
    end = StringField("契約終了日")
    clauses = _choices("契約書にある条項（確認したものにチェック）")
    file = FileField("契約書（PDF・任意）")

    def contract_data(self) -> dict:
        return {"number": self.number.data, "start": self.start.data, "end": self.end.data,
                "clauses": self.clauses.data}

    def upload(self):
        return _upload(self.file)


class ContractorForm(ContractForm):
    """A new contractor with its first contract (services.register_contractor)."""
    name = StringField("名称")
    services = _choices("委託業務")
    #: register_contractor names the contract's fields inside "contract".
    service_names = {"contract.number": "number", "contract.start": "start", "contract.end": "end",
                     "contract.clauses": "clauses", "contract": "number"}

    def service_data(self) -> dict:
        return {"name": self.name.data, "services": self.services.data, "contract": self.contract_data()}


class PledgeForm(FlaskForm):
    fiscal_year = StringField("年度")
    received_on = StringField("受領日")
    signatories = TextAreaField("署名者")
    file = FileField("誓約書（PDF・任意）")

    def service_data(self) -> dict:
        return {"fiscal_year": self.fiscal_year.data, "received_on": self.received_on.data,
                "signatories": self.signatories.data}

    def upload(self):
        return _upload(self.file)


class SubcontractorForm(FlaskForm):
    name = StringField("再委託先の名称")
    services = _choices("再委託する業務")
    approved_on = StringField("承認日")
    note = StringField("備考")

    def service_data(self) -> dict:
        return {"name": self.name.data, "services": self.services.data, "approved_on": self.approved_on.data,
                "note": self.note.data}


class InspectionForm(FlaskForm):
    on = StringField("実施日")
    by = StringField("確認者")
    observed = TextAreaField("確認した内容")
    findings = TextAreaField("指摘事項")
    follow_up = TextAreaField("対応・フォローアップ")

    def service_data(self) -> dict:
        return {"on": self.on.data, "by": self.by.data, "observed": self.observed.data,
                "findings": self.findings.data, "follow_up": self.follow_up.data}
