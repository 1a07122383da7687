"""Registration forms. They render the fields and carry the CSRF token; every rule (and every
Japanese refusal) is register_item's, so the page and the API cannot disagree about what is valid."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, SelectField, StringField

from .services import DEVICE_TYPES, MEDIA_TYPES

STORAGE_TYPES = ("HDD", "SSD", "NVMe", "eMMC")  #: devices.storage.MEDIA_TYPES

#: Shown in the media chooser on purpose: picking one explains why it cannot be used.
FORBIDDEN_MEDIA = (("USB", "USBメモリ（使用禁止）"), ("SD", "SDカード（使用禁止）"),
                   ("HDD", "外付けハードディスク・SSD（使用禁止）"), ("OTHER", "その他（使用禁止）"))


def _select(label: str, choices=()) -> SelectField:
    # validate_choice=False: an unknown value reaches the service, which refuses it in Japanese.
    return SelectField(label, choices=list(choices), validate_choice=False)


class _ItemForm(FlaskForm):
    title = StringField("件名")
    location = StringField("保管場所")

    #: register_item's keys, in the order the fields appear on the page.
    service_fields: tuple[str, ...] = ()
    kind = ""

    def service_data(self) -> dict:
        data = {"kind": self.kind}
        for name in self.service_fields:
            data[name] = getattr(self, name).data
        return data


class FormItemForm(_ItemForm):
    kind = "form"
    business = _select("利用事務")
    sheets = StringField("枚数")
    contains_my_number = BooleanField("個人番号の記載あり")
    terminal = StringField("出力端末（任意）")
    output_at = StringField("出力日時（空欄なら現在）")
    #: The approval (使用伺い) the output was printed under: a choice of the person's own.
    terminal_use = _select("使用伺い（端末の使用承認。任意）")
    service_fields = ("title", "business", "sheets", "contains_my_number", "location", "terminal",
                      "output_at", "terminal_use")


class MediumItemForm(_ItemForm):
    kind = "medium"
    business = _select("利用事務")
    media_type = _select("媒体の種類", [(m, m) for m in MEDIA_TYPES] + list(FORBIDDEN_MEDIA))
    record_count = StringField("件数（レコード数）")
    recipient = StringField("提供先")
    encrypted = BooleanField("暗号化している", default=True)
    due_back = StringField("返却予定日")
    service_fields = ("title", "business", "media_type", "record_count", "recipient", "encrypted",
                      "due_back", "location")


class DeviceItemForm(_ItemForm):
    kind = "device"
    device_type = _select("機器種別", [(t, t) for t in DEVICE_TYPES])
    asset_tag = StringField("資産番号")
    model = StringField("型式")
    serial = StringField("製造番号")
    lessor = StringField("リース会社")
    lease_contract = StringField("リース契約番号")
    lease_start = StringField("リース開始日")
    lease_end = StringField("リース終了日")
    has_storage = BooleanField("記憶装置（HDD・SSD 等）あり", default=True)
    holds_my_number_data = BooleanField("マイナンバー利用事務系の機器")
    holds_juki_data = BooleanField("住基ネットのデータ（本人確認情報）を保持する機器")
    service_fields = ("title", "device_type", "asset_tag", "model", "serial", "lessor",
                      "lease_contract", "lease_start", "lease_end", "location", "has_storage",
                      "holds_my_number_data", "holds_juki_data")
    #: The storage media, a row each (消去証明書はこのシリアル番号ごとに確認する); blank rows are skipped.
    STORAGE_ROWS = 2
    #: No input of its own (a plain Field, never rendered): it carries register_item's refusals of
    #: the media ("storage") to the rows' fieldset, where the page shows them beside the rows.
    storage = Field("記憶装置")

    def service_data(self) -> dict:
        data = super().service_data()
        rows = []
        for n in range(1, self.STORAGE_ROWS + 1):
            row = {key: (getattr(self, f"storage_{name}_{n}").data or "").strip()
                   for key, name in (("media_type", "type"), ("serial", "serial"), ("make", "make"),
                                     ("model", "model"), ("capacity_gb", "capacity"))}
            if any(row.values()):
                rows.append({key: value or None for key, value in row.items()})
        data["storage"] = rows
        return data


# A row of fields per medium, added as WTForms documents for forms composed at run time.
for _n in range(1, DeviceItemForm.STORAGE_ROWS + 1):
    setattr(DeviceItemForm, f"storage_type_{_n}",
            _select(f"記憶装置{_n}の種類", [("", "—")] + [(t, t) for t in STORAGE_TYPES]))
    setattr(DeviceItemForm, f"storage_serial_{_n}", StringField(f"記憶装置{_n}のシリアル番号"))
    setattr(DeviceItemForm, f"storage_make_{_n}", StringField(f"記憶装置{_n}のメーカー"))
    setattr(DeviceItemForm, f"storage_model_{_n}", StringField(f"記憶装置{_n}の型番"))
    setattr(DeviceItemForm, f"storage_capacity_{_n}", StringField(f"記憶装置{_n}の容量（GB）"))


FORMS = {"form": FormItemForm, "medium": MediumItemForm, "device": DeviceItemForm}
