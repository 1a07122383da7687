"""Forms as a person meets them: 必須 marks on required fields, every refusal at once beside its
field, and the values typed kept."""
from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from lifecycle.audit.services import head
from lifecycle.auth.models import Business, Department, TrainingRecord, User
from lifecycle.contractors.models import Contract, Contractor, Inspection, Pledge, Subcontractor
from lifecycle.custody.models import Transfer
from lifecycle.devices.models import ErasureCertificate
from lifecycle.devices.services import request_erasure
from lifecycle.extensions import db
from lifecycle.items.models import Item
from lifecycle.items.services import get_item
from lifecycle.people.models import GrantRequest
from lifecycle.policy import services as policy
from lifecycle.policy.models import PolicySetting
from tests import factories
from tests.web.test_custody import Web

MY_NUMBER = "123456789018"


def _field_block(html: str, field_id: str) -> str:
    """The <div class="field"> that holds the control `field_id`."""
    start = html.index(f'id="{field_id}"')
    return html[html.rindex('<div class="field', 0, start):html.index("</div>", start)]


def test_required_fields_carry_a_readable_mark(app, world):
    page = Web(app, "registrar").get("/items/new?kind=form").get_data(as_text=True)
    title = _field_block(page, "title")
    assert '<span class="required">必須</span>' in title and 'aria-required="true"' in title
    assert "必須" not in _field_block(page, "terminal")  # optional fields are not marked


def test_refused_hand_off_keeps_the_receiver_and_the_note_and_tells_both(app, world):
    code = factories.form(world["registrar"]).code
    giver = Web(app, "registrar")
    before = head()
    note = f"書庫へ 個人番号 {MY_NUMBER}"
    response = giver.post(f"/custody/items/{code}/transfer", data={"to": "registrar", "note": note})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    to, note_field = _field_block(html, "to"), _field_block(html, "note")
    assert "自分自身" in to and 'aria-invalid="true"' in to
    assert "個人番号と思われる" in note_field
    assert re.search(r'<option value="registrar2" selected>', html) is None  # nothing chosen but what was sent
    assert f"{note}</textarea>" in note_field  # the note as typed
    assert head() == before
    db.session.expire_all()
    assert get_item(code).status == "registered"


def test_refused_note_keeps_the_chosen_receiver(app, world):
    code = factories.form(world["registrar"]).code
    response = Web(app, "registrar").post(f"/custody/items/{code}/transfer",
                                          data={"to": "registrar2", "note": f"番号 {MY_NUMBER}"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert '<option value="registrar2" selected>' in html
    assert "個人番号と思われる" in _field_block(html, "note")
    assert "error" not in _field_block(html, "to").replace('class="field', "")


def _level_options(html: str) -> list[str]:
    select = html.split('<select id="din_level"', 1)[1].split("</select>", 1)[0]
    return re.findall(r'<option value="([^"]*)"', select)


def test_din_list_offers_only_the_levels_of_the_selected_material(app, world):
    paper = factories.form(world["registrar"]).code
    html = Web(app, "registrar").get(f"/destructions?codes={paper}").get_data(as_text=True)
    levels = _level_options(html)
    # paper (P), not below the policy minimum (P-4 by default); no O-, T-, H- or E- level
    assert levels == ["", "P-4", "P-5", "P-6", "P-7"], levels


def test_din_list_of_a_disc_names_optical_levels(app, world):
    disc = factories.medium(world["bulk"]).code
    levels = _level_options(Web(app, "bulk").get(f"/destructions?codes={disc}").get_data(as_text=True))
    assert levels[0] == "" and levels[1:] and all(level.startswith("O-") for level in levels[1:]), levels


def test_the_header_names_the_person_once(app, world):
    page = Web(app, "admin").get("/").get_data(as_text=True)
    user = re.search(r'<span class="user">([^<]*)</span>', page).group(1)
    assert user == "市町 太郎（市町課）"


# --- every error at once, beside its field, the values kept, nothing changed --------------------------

def _group_block(html: str, group_id: str) -> str:
    """The <fieldset> of a group of check boxes (or of the storage rows) `group_id`."""
    start = html.rindex("<fieldset", 0, html.index(f'id="{group_id}"') + 1)
    return html[start:html.index("</fieldset>", start)]


def _told_beside(html: str, field_id: str, *words: str) -> None:
    block = _field_block(html, field_id)
    assert "has-error" in block and f'id="{field_id}-error"' in block, block
    assert 'aria-invalid="true"' in block and f'aria-describedby="{field_id}-error"' in block.replace(
        f'{field_id}-hint ', ""), block
    for word in words:
        assert word in block, (word, block)


def _unchanged(before, *counts):
    """Nothing was written: the audit chain's head and the given row counts are as they were."""
    db.session.rollback()
    assert head() == before[0]
    assert [db.session.scalar(select(func.count()).select_from(model)) for model in counts] == list(before[1:])


def _state(*counts):
    return (head(), *[db.session.scalar(select(func.count()).select_from(model)) for model in counts])


def test_the_contractor_register_tells_every_error_beside_its_field(app, world):
    admin = Web(app, "admin")
    page = admin.get("/contractors").get_data(as_text=True)
    form = page[page.index('id="register-contractor"') - 200:]
    assert "novalidate" in form[:400]
    for field_id in ("name", "number", "start", "end"):
        assert '<span class="required">必須</span>' in _field_block(page, field_id), field_id
    assert '<span class="required">必須</span>' in _group_block(page, "services")
    before = _state(Contractor, Contract)
    response = admin.post("/contractors", content_type="multipart/form-data", data={
        "name": "", "number": "", "start": "2026-13-01", "end": "2026-03-31", "clauses": ["confidentiality"],
        "file": (io.BytesIO(b"not a pdf"), "contract.pdf")})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    _told_beside(html, "name", "委託先の名称を入力してください")
    _told_beside(html, "number", "契約番号を入力してください")
    _told_beside(html, "start", "契約開始日は YYYY-MM-DD")
    _told_beside(html, "file", "PDFファイルではありません")
    services = _group_block(html, "services")
    assert "has-error" in services and "委託業務を1つ以上選んでください" in services
    assert 'aria-describedby="services-error"' in services
    # what was typed stays: the dates, the clause ticked
    assert 'value="2026-13-01"' in _field_block(html, "start") and 'value="2026-03-31"' in _field_block(html, "end")
    assert re.search(r'value="confidentiality" checked', _group_block(html, "clauses"))
    assert "入力内容を確認してください（名称、委託業務、契約番号、契約開始日、契約書（PDF・任意））" in html
    _unchanged(before, Contractor, Contract)


def test_the_contractor_register_tells_an_end_before_the_start_with_the_other_errors(app, world):
    admin = Web(app, "admin")
    before = _state(Contractor)
    response = admin.post("/contractors", data={"name": "北部リース株式会社", "services": ["leasing", "painting"],
                                                "number": "L-1", "start": "2026-04-01", "end": "2026-03-31"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    _told_beside(html, "end", "契約終了日は契約開始日以降")
    assert "不明な値があります: painting" in _group_block(html, "services")
    assert 'value="北部リース株式会社"' in _field_block(html, "name")
    assert 'value="leasing" checked' in _group_block(html, "services")
    _unchanged(before, Contractor)


@pytest.mark.parametrize("path, data, told", [
    ("contracts", {"number": "", "start": "2026-4-1x", "end": ""},
     {"c-number": "契約番号を入力してください", "c-start": "契約開始日は YYYY-MM-DD",
      "c-end": "契約終了日を入力してください"}),
    ("pledges", {"fiscal_year": "1999", "received_on": "2999-01-01", "signatories": f"作業員 {MY_NUMBER}"},
     {"p-year": "年度は2000から2100", "p-received": "受領日に未来の日付", "p-signatories": "個人番号と思われる"}),
    ("subcontractors", {"name": "", "approved_on": "2999-01-01", "note": "備考"},
     {"s-name": "再委託先の名称を入力してください", "s-approved": "承認日に未来の日付"}),
    ("inspections", {"on": "", "by": "", "findings": f"番号 {MY_NUMBER}"},
     {"i-on": "実施日を入力してください", "i-by": "確認者を入力してください", "i-findings": "個人番号と思われる"}),
])
def test_the_contractor_page_forms_tell_every_error_beside_its_field(app, world, path, data, told):
    cid = factories.contractor(world["admin"], name="検証消去株式会社").id
    security = Web(app, "security")
    page = security.get(f"/contractors/{cid}").get_data(as_text=True)
    assert page.count("novalidate") >= 4 and "<details open" not in page
    before = _state(Contract, Pledge, Subcontractor, Inspection)
    response = security.post(f"/contractors/{cid}/{path}", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for field_id, words in told.items():
        _told_beside(html, field_id, words)
    if path == "subcontractors":
        assert "再委託する業務を1つ以上選んでください" in _group_block(html, "services")
        assert 'value="備考"' in _field_block(html, "s-note")
    if path == "pledges":
        assert 'value="1999"' in _field_block(html, "p-year")
    assert html.count("<details open") == 1  # the refused form's section, and only it, is open
    _unchanged(before, Contract, Pledge, Subcontractor, Inspection)


def _erasure_requested(world) -> str:
    code = factories.device(world["admin"]).code
    request_erasure(world["admin"], code, "lease_end")
    return code


def test_the_erasure_certificate_form_tells_every_error_beside_its_field(app, world):
    code = _erasure_requested(world)
    bulk = Web(app, "bulk")
    page = bulk.get(f"/devices/{code}").get_data(as_text=True)
    form = page[page.index('id="certificate-upload-form"'):]
    form = form[:form.index("</form>")]
    assert "novalidate" in page[page.index('id="certificate-upload-form"') - 200:page.index('id="certificate-upload-form"') + 60]
    for field_id in ("f-file", "f-contractor", "f-no", "f-method", "f-tool", "f-verif", "f-date"):
        assert '<span class="required">必須</span>' in _field_block(form, field_id), field_id
    assert "必須" not in _field_block(form, "f-ver")
    before = _state(ErasureCertificate)
    response = bulk.post(f"/devices/{code}/certificates", content_type="multipart/form-data", data={
        "contractor": "", "certificate_no": "", "method": "初期化", "tool": "", "tool_version": "7.9",
        "verification": "", "performed_on": "2999-01-01", "performed_by": "消去 作業員"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    _told_beside(html, "f-file", "ファイル（PDF）を選んでください")
    _told_beside(html, "f-contractor", "委託先（contractor）を指定してください")
    _told_beside(html, "f-no", "証明書番号を入力してください")
    _told_beside(html, "f-method", "初期化による方法は適当でない")
    _told_beside(html, "f-tool", "消去ツールを入力してください")
    _told_beside(html, "f-verif", "検証方法を入力してください")
    _told_beside(html, "f-date", "未来の日付は指定できません")
    assert 'value="7.9"' in _field_block(html, "f-ver") and 'value="消去 作業員"' in _field_block(html, "f-op")
    assert 'value="2999-01-01"' in _field_block(html, "f-date")
    _unchanged(before, ErasureCertificate)
    db.session.expire_all()
    assert get_item(code).status == "erasure_requested"


def test_the_device_registration_tells_every_error_beside_its_field_and_its_storage(app, world):
    admin = Web(app, "admin")
    before = _state(Item)
    response = admin.post("/items/new?kind=device", data={
        "title": "", "device_type": "業務端末", "asset_tag": "", "model": "FMV-D7000", "serial": "SN-0001",
        "lessor": "九州リース株式会社", "lease_contract": "", "lease_start": "2026-13-01", "lease_end": "",
        "location": "市町課", "has_storage": "y"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    _told_beside(html, "title", "件名を入力してください")
    _told_beside(html, "asset_tag", "資産番号を入力してください")
    _told_beside(html, "lease_contract", "リース契約番号を入力してください")
    _told_beside(html, "lease_start", "リース開始日は YYYY-MM-DD")
    _told_beside(html, "lease_end", "リース終了日を入力してください")
    storage = _group_block(html, "storage-media")
    assert "has-error" in storage and "記憶装置を1台以上" in storage
    assert 'value="SN-0001"' in _field_block(html, "serial") and 'value="FMV-D7000"' in _field_block(html, "model")
    _unchanged(before, Item)


def test_the_user_form_tells_every_error_beside_its_field(app, world):
    admin = Web(app, "admin")
    page = admin.get("/admin/users").get_data(as_text=True)
    assert '<span class="required">必須</span>' in _field_block(page, "login")
    assert "必須" not in _field_block(page, "password")  # an account may be made without one
    before = _state(User)
    response = admin.post("/admin/users", data={
        "login": "Kosei One", "name": "", "department": "nowhere", "roles": ["registrar", "no_such_role"],
        "trained_on": "2999-04-01", "password": "short"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    _told_beside(html, "login", "半角英小文字・数字")
    _told_beside(html, "name", "氏名を入力してください")
    _told_beside(html, "department", "所属コード「nowhere」は登録されていません")
    _told_beside(html, "trained_on", "未来の日付")
    _told_beside(html, "password", "12文字以上")
    assert "権限「no_such_role」はありません" in _group_block(html, "roles")
    assert 'value="Kosei One"' in _field_block(html, "login") and 'value="2999-04-01"' in _field_block(html, "trained_on")
    assert 'value="registrar" checked' in _group_block(html, "roles")
    _unchanged(before, User)


@pytest.mark.parametrize("path, data, told", [
    ("/admin/departments", {"code": "", "name": ""},
     {"code": "所属コードを入力してください", "name": "所属名を入力してください"}),
    ("/admin/businesses", {"code": "a b", "name": "", "basis": ""},
     {"code": "半角英数字", "name": "利用事務名を入力してください", "basis": "根拠法令を入力してください"}),
])
def test_the_master_forms_tell_every_error_beside_its_field(app, world, path, data, told):
    admin = Web(app, "admin")
    before = _state(Department, Business)
    response = admin.post(path, data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for field_id, words in told.items():
        _told_beside(html, field_id, words)
    _unchanged(before, Department, Business)


def test_the_user_page_forms_tell_their_error_beside_the_field_and_keep_it(app, world):
    admin = Web(app, "admin")
    before = _state(TrainingRecord)
    response = admin.post("/admin/users/registrar/training", data={"trained_on": "２０９９-０１-０１"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    _told_beside(html, "trained_on", "未来の日付")
    assert 'value="２０９９-０１-０１"' in _field_block(html, "trained_on")
    response = admin.post("/admin/users/registrar/password", data={"password": "short"})
    assert response.status_code == 422
    _told_beside(response.get_data(as_text=True), "password", "12文字以上")
    response = admin.post("/admin/users/registrar/roles", data={"role": ""})
    assert response.status_code == 422
    _told_beside(response.get_data(as_text=True), "role", "権限を選んでください")
    _unchanged(before, TrainingRecord)


def test_the_person_page_forms_tell_every_error_beside_its_field(app, world):
    factories.form(world["registrar"])
    admin = Web(app, "admin")
    before = _state(Transfer, GrantRequest)
    response = admin.post("/people/users/registrar/hand-off", data={"to": "registrar", "note": f"番号 {MY_NUMBER}"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    _told_beside(html, "to", "以外の職員を選んでください")
    _told_beside(html, "note", "個人番号と思われる")
    response = admin.post("/people/users/registrar/hand-off", data={"to": "auditor", "note": f"番号 {MY_NUMBER}"})
    html = response.get_data(as_text=True)
    _told_beside(html, "to", "保管を担当できる権限")
    _told_beside(html, "note", "個人番号と思われる")
    assert f"番号 {MY_NUMBER}</textarea>" in _field_block(html, "note")
    response = admin.post("/people/users/registrar/grant-requests", data={"role": "", "reason": f"番号 {MY_NUMBER}"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    _told_beside(html, "role", "権限を選んでください")
    _told_beside(html, "grant-reason", "個人番号と思われる")
    _unchanged(before, Transfer, GrantRequest)


def test_the_policy_form_tells_its_error_beside_the_value_and_keeps_it(app, world):
    admin = Web(app, "admin")
    page = admin.get("/admin/policies").get_data(as_text=True)
    assert "novalidate" in page and 'aria-required="true"' in page
    before = _state(PolicySetting)
    response = admin.post("/admin/policies", data={"key": "mynumber.default_minutes", "value": "0", "unit": "days"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    row = html[html.index(f'<td>{policy.POLICIES["mynumber.default_minutes"].label}</td>'):]
    row = row[:row.index("</tr>")]
    assert 'aria-invalid="true"' in row and 'class="error"' in row and "までの数で入力してください" in row
    assert 'value="0"' in row and re.search(r'<option value="days" selected>', row)
    others = html.split("</tr>")
    assert sum('aria-invalid="true"' in r for r in others) == 1  # only the refused row
    _unchanged(before, PolicySetting)
