from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired


class LoginForm(FlaskForm):
    login = StringField("ログインID", validators=[DataRequired(message="ログインIDを入力してください。")])
    password = PasswordField("パスワード", validators=[DataRequired(message="パスワードを入力してください。")])


class DepartmentForm(FlaskForm):
    code = StringField("所属コード")
    name = StringField("所属名")
    system_owner = BooleanField("システム所有所属（市町課）")


class BusinessForm(FlaskForm):
    code = StringField("利用事務コード")
    name = StringField("利用事務名")
    basis = StringField("根拠法令（例: 住基法別表第5、県条例）")


# The admin forms render the fields, keep what was typed and carry the CSRF token; every rule (and
# every Japanese refusal, all at once) is the service's. Dates are text: the service parses them
# (full-width digits too), where a DateField would answer in English. Choices are not checked
# here either (validate_choice=False): the service refuses an unknown one in Japanese.

class UserForm(FlaskForm):
    login = StringField("ログインID")
    name = StringField("氏名")
    department = SelectField("所属", choices=[], validate_choice=False)
    roles = SelectMultipleField("権限", choices=[], validate_choice=False)
    trained_on = StringField("研修受講日")
    # Not re-rendered with what was typed (WTForms' PasswordField never is): it is typed again.
    password = PasswordField("初期パスワード（12文字以上）")


class RoleForm(FlaskForm):
    role = SelectField("権限", choices=[], validate_choice=False)


class TrainingForm(FlaskForm):
    trained_on = StringField("研修受講日")
    #: record_training names the day "completed_on" (the person page's and the API's word).
    service_names = {"completed_on": "trained_on"}


class PasswordForm(FlaskForm):
    password = PasswordField("新しいパスワード（12文字以上）")


class ActionForm(FlaskForm):
    """A form with only the CSRF token, for buttons that post."""
