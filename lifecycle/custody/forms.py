from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField


class TransferForm(FlaskForm):
    # The service checks the receiver (unknown, inactive, oneself…) with the same messages as the API.
    to = SelectField("引継ぎ先（受領する職員）", choices=[], validate_choice=False)
    note = TextAreaField("備考（引継ぎの事情・保管場所など）")


class AcceptForm(FlaskForm):
    location = StringField("新しい保管場所（変わる場合のみ）")


class ReasonForm(FlaskForm):
    """Cancellation: the reason is optional but recorded."""
    reason = StringField("理由（任意）")


class RejectForm(FlaskForm):
    """Sending a hand-off back: the giver gets the item back and is told why (required)."""
    reason = StringField("差戻しの理由")


class ProvideForm(FlaskForm):
    recipient = StringField("提供先")
    due_back = StringField("返却予定日（変更する場合のみ）")


class ReturnForm(FlaskForm):
    """Only the CSRF token, for the 「返却を記録」 button."""
