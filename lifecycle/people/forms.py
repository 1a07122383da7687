from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField


class TrainingRecordForm(FlaskForm):
    # Dates are text: the service parses them (full-width digits too) and tells every error at once.
    completed_on = StringField("受講日（YYYY-MM-DD）")
    course = StringField("研修の名称（省略時: 住基ネット セキュリティ研修）")


class HandOffForm(FlaskForm):
    to = SelectField("引継ぎ先（一件ずつ受領する職員）", choices=[], validate_choice=False)
    note = TextAreaField("備考")


class LeaveForm(FlaskForm):
    effective_on = StringField("発令日（YYYY-MM-DD）")
    reason = TextAreaField("理由（強制する場合は必須）")
    force = BooleanField("保管中の物を所属のセキュリティ管理者の所在確認待ちにして、強制的に離任させる")


class DepartmentChangeForm(FlaskForm):
    department = SelectField("異動先の所属", choices=[], validate_choice=False)
    effective_on = StringField("発令日（YYYY-MM-DD）")
    reason = TextAreaField("備考")


class GrantRequestForm(FlaskForm):
    role = SelectField("承認を依頼する権限", choices=[], validate_choice=False)
    reason = TextAreaField("依頼の理由")


class DecisionReasonForm(FlaskForm):
    """却下 of a grant request, or 取消し in the rights review: the reason is required there."""
    reason = TextAreaField("理由")


class ConfirmCustodyForm(FlaskForm):
    location = StringField("確認した保管場所（変わる場合のみ）")
    note = TextAreaField("備考")
