"""Forms as a person meets them: 必須 marks on required fields, every refusal at once beside its
field, and the values typed kept."""
from __future__ import annotations

import re

from lifecycle.audit.services import head
from lifecycle.extensions import db
from lifecycle.items.services import get_item
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
