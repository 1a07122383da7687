from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Optional


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


class UserForm(FlaskForm):
    login = StringField("ログインID")
    name = StringField("氏名")
    department = SelectField("所属", choices=[])
    roles = SelectMultipleField("権限", choices=[])
    trained_on = DateField("研修受講日", validators=[Optional()])
    password = PasswordField("初期パスワード（12文字以上）")


class RoleForm(FlaskForm):
    role = SelectField("権限", choices=[])


class TrainingForm(FlaskForm):
    trained_on = DateField("研修受講日", validators=[Optional()])


class PasswordForm(FlaskForm):
    password = PasswordField("新しいパスワード（12文字以上）")


class ActionForm(FlaskForm):
    """A form with only the CSRF token, for buttons that post."""
