from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ..errors import DomainError
from ..extensions import limiter, login_manager
from .. import web
from ..web import act, role_required, safe_next, submit
from . import services
from .forms import (ActionForm, BusinessForm, DepartmentForm, LoginForm, PasswordForm, RoleForm,
                    TrainingForm, UserForm)
from ..roles import ROLE_LABELS, Role
from ..policy import services as policy

bp = Blueprint("auth", __name__)
admin = Blueprint("admin", __name__, url_prefix="/admin")


def init_app(app) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "このページを表示するにはログインしてください。"
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    login_manager.user_loader(services.user_for_session)
    policy.on_change("training.valid_days", services.refresh_all_training)
    web.hooks.load_token_user = services.user_for_token

    app.register_blueprint(bp)
    app.register_blueprint(admin)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.login.data, form.password.data,
                                         remote_addr=request.remote_addr)
        except DomainError as exc:
            flash(exc.message, "error")
            return render_template("auth/login.html", form=form), 401
        session.clear()
        login_user(user)
        session.permanent = True
        return redirect(safe_next(request.args.get("next"), url_for("home.dashboard")))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    services.end_sessions(current_user)
    logout_user()
    session.clear()
    flash("ログアウトしました。", "info")
    return redirect(url_for("auth.login"))


@admin.route("/departments", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def departments():
    form = DepartmentForm()

    def page(status: int = 200):
        return render_template("admin/departments.html", form=form, departments=services.list_departments()), status

    if request.method == "GET":
        return page()
    return submit(form, lambda: services.create_department(current_user, form.code.data, form.name.data,
                                                           system_owner=form.system_owner.data),
                  lambda dept: f"所属「{dept.name}」を登録しました。", url_for("admin.departments"), page)


@admin.route("/businesses", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def businesses():
    form = BusinessForm()

    def page(status: int = 200):
        return render_template("admin/businesses.html", form=form, businesses=services.list_businesses()), status

    if request.method == "GET":
        return page()
    return submit(form, lambda: services.create_business(current_user, form.code.data, form.name.data,
                                                         form.basis.data),
                  lambda business: f"利用事務「{business.name}」を登録しました。", url_for("admin.businesses"), page)


def _user_form() -> UserForm:
    form = UserForm()
    form.department.choices = [(d.code, d.name) for d in services.list_departments(active_only=True)]
    form.roles.choices = [(r.value, label) for r, label in ROLE_LABELS.items()]
    return form


@admin.route("/users", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def users():
    form = _user_form()

    def page(status: int = 200):
        return render_template("admin/users.html", form=form, users=services.list_users()), status

    if request.method == "GET":
        return page()
    return submit(form, lambda: services.create_user(current_user, form.login.data, form.name.data,
                                                     form.department.data, roles=form.roles.data,
                                                     trained_on=form.trained_on.data,
                                                     password=form.password.data or None),
                  lambda user: f"利用者「{user.name}」を登録しました。",
                  lambda user: url_for("admin.user", login=user.login), page)


def role_form(**kwargs) -> RoleForm:
    """The form granting a role, with every role to choose from (people/views.py posts it)."""
    form = RoleForm(**kwargs)
    form.role.choices = [(r.value, label) for r, label in ROLE_LABELS.items()]
    return form


def user_page(login: str, status: int = 200, **refused):
    """A user's admin page: its forms empty, except the one refused (with its values and errors)."""
    target = services.get_user(login)
    return render_template("admin/user.html", target=target,
                           role_form=refused.get("role_form") or role_form(formdata=None),
                           training_form=refused.get("training_form") or TrainingForm(
                               formdata=None, trained_on=target.trained_on.isoformat() if target.trained_on else ""),
                           password_form=refused.get("password_form") or PasswordForm(formdata=None),
                           action_form=ActionForm()), status


@admin.route("/users/<login>")
@role_required(Role.ADMIN)
def user(login: str):
    return user_page(login)


def _user_action(login: str, action, success: str):
    return act(action, success, url_for("admin.user", login=login))


def user_form_submit(login: str, form, name: str, do, success):
    """A form of the user's page: refused, the page again with that form as typed, errors beside it."""
    return submit(form, do, success, url_for("admin.user", login=login),
                  lambda status: user_page(login, status, **{name: form}))


@admin.post("/users/<login>/roles/<role>/revoke")
@role_required(Role.ADMIN)
def revoke(login: str, role: str):
    return _user_action(login, lambda: services.revoke_role(current_user, login, role),
                        "権限を取り消しました。")


@admin.post("/users/<login>/training")
@role_required(Role.ADMIN)
def training(login: str):
    form = TrainingForm()
    # An empty day withdraws the records (entered by mistake), as the person page's button does.
    return user_form_submit(login, form, "training_form",
                            lambda: services.record_training(current_user, login, form.trained_on.data or None),
                            "研修受講日を記録しました。")


@admin.post("/users/<login>/password")
@role_required(Role.ADMIN)
def password(login: str):
    form = PasswordForm()
    return user_form_submit(login, form, "password_form",
                            lambda: services.set_password(current_user, login, form.password.data),
                            "パスワードを設定しました。")


@admin.post("/users/<login>/active")
@role_required(Role.ADMIN)
def active(login: str):
    make_active = request.form.get("active") == "1"
    return _user_action(login, lambda: services.set_active(current_user, login, make_active),
                        "利用を再開しました。" if make_active else "利用を停止しました。")
