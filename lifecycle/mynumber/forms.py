from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField

from ..durations import UNIT_CHOICES


class CopyForm(FlaskForm):
    # Plain strings: the service normalises and checks them, with the same messages as the API.
    my_number = StringField("個人番号（12桁）")
    provided_to = StringField("提供先")
    # In 時間 or 日 (the service turns them into minutes, as the API gives them).
    retain_amount = StringField("保存期間")
    retain_unit = SelectField("保存期間の単位", choices=UNIT_CHOICES, default="days", validate_choice=False)
    reason = TextAreaField("保存の理由")


class RevealForm(FlaskForm):
    reason = TextAreaField("表示の理由（再送先・再送の事情など）")


class PurgeForm(FlaskForm):
    reason = TextAreaField("早期消去の理由")


class RunForm(FlaskForm):
    """Only the CSRF token, for the 「今すぐ実行」 button."""
