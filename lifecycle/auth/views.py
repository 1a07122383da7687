from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ..errors import DomainError
from ..extensions import limiter, login_manager
from .. import web
from ..web import act, flash_refusal, role_required, safe_next
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
    if form.validate_on_submit():
        try:
            dept = services.create_department(current_user, form.code.data, form.name.data,
                                              system_owner=form.system_owner.data)
            flash(f"所属「{dept.name}」を登録しました。", "success")
            return redirect(url_for("admin.departments"))
        except DomainError as exc:
            flash_refusal(exc)
    return render_template("admin/departments.html", form=form,
                           departments=services.list_departments())


@admin.route("/businesses", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def businesses():
    form = BusinessForm()
    if form.validate_on_submit():
        try:
            business = services.create_business(current_user, form.code.data, form.name.data,
                                                form.basis.data)
            flash(f"利用事務「{business.name}」を登録しました。", "success")
            return redirect(url_for("admin.businesses"))
        except DomainError as exc:
            flash_refusal(exc)
    return render_template("admin/businesses.html", form=form,
                           businesses=services.list_businesses())


def _user_form() -> UserForm:
    form = UserForm()
    form.department.choices = [(d.code, d.name) for d in services.list_departments(active_only=True)]
    form.roles.choices = [(r.value, label) for r, label in ROLE_LABELS.items()]
    return form


@admin.route("/users", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def users():
    form = _user_form()
    if form.validate_on_submit():
        try:
            user = services.create_user(current_user, form.login.data, form.name.data,
                                        form.department.data, roles=form.roles.data,
                                        trained_on=form.trained_on.data,
                                        password=form.password.data or None)
            flash(f"利用者「{user.name}」を登録しました。", "success")
            return redirect(url_for("admin.user", login=user.login))
        except DomainError as exc:
            flash_refusal(exc)
    elif form.errors:
        flash("入力内容を確認してください（研修受講日は YYYY-MM-DD の形式です）。", "error")
    # A refused form is answered 422, as every other form's refusal is.
    return render_template("admin/users.html", form=form, users=services.list_users()), \
        422 if request.method == "POST" else 200


@admin.route("/users/<login>")
@role_required(Role.ADMIN)
def user(login: str):
    target = services.get_user(login)
    role_form = RoleForm()
    role_form.role.choices = [(r.value, label) for r, label in ROLE_LABELS.items()]
    return render_template("admin/user.html", target=target, role_form=role_form,
                           training_form=TrainingForm(trained_on=target.trained_on),
                           password_form=PasswordForm(), action_form=ActionForm())


def _user_action(login: str, action, success: str):
    return act(action, success, url_for("admin.user", login=login))


@admin.post("/users/<login>/roles/<role>/revoke")
@role_required(Role.ADMIN)
def revoke(login: str, role: str):
    return _user_action(login, lambda: services.revoke_role(current_user, login, role),
                        "権限を取り消しました。")


@admin.post("/users/<login>/training")
@role_required(Role.ADMIN)
def training(login: str):
    form = TrainingForm()
    if not form.validate_on_submit():
        flash("研修受講日は YYYY-MM-DD の形式で入力してください。", "error")
        return redirect(url_for("admin.user", login=login))
    return _user_action(login, lambda: services.record_training(current_user, login, form.trained_on.data),
                        "研修受講日を記録しました。")


@admin.post("/users/<login>/password")
@role_required(Role.ADMIN)
def password(login: str):
    form = PasswordForm()
    form.validate_on_submit()
    return _user_action(login, lambda: services.set_password(current_user, login, form.password.data),
                        "パスワードを設定しました。")


@admin.post("/users/<login>/active")
@role_required(Role.ADMIN)
def active(login: str):
    make_active = request.form.get("active") == "1"
    return _user_action(login, lambda: services.set_active(current_user, login, make_active),
                        "利用を再開しました。" if make_active else "利用を停止しました。")
