"""The inbox (やること) on every page and at /inbox, a person's mail choice, and the admin's
mail pages: the SMTP settings with テスト送信, addresses, and recent sends and failures."""
from __future__ import annotations

import logging

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from ..errors import DomainError
from ..jobs import register_job
from ..roles import Role
from ..web import flash_refusal, role_required
from . import services, tasks
from .cli import mail as mail_commands
from .models import Delivery

log = logging.getLogger(__name__)
bp = Blueprint("notifications", __name__)

DELIVERY_LABELS = {Delivery.PENDING: "送信待ち", Delivery.SENDING: "送信中", Delivery.SENT: "送信済み",
                   Delivery.FAILED: "送信できず（中止）"}


def init_app(app) -> None:
    app.register_blueprint(bp)
    tasks.register_builtin()
    register_job(services.QUEUE_JOB, services.QUEUE_JOB_LABEL, services.queue_notifications,
                 interval=lambda config: int(config.get("MAIL_QUEUE_INTERVAL_SECONDS", 300)))
    register_job(services.SEND_JOB, services.SEND_JOB_LABEL, services.send_pending,
                 interval=lambda config: int(config.get("MAIL_SEND_INTERVAL_SECONDS", 60)))
    app.cli.add_command(mail_commands)

    @app.context_processor
    def task_count():
        return {"task_count": _task_count}


def _task_count() -> int | None:
    """For the header of every page. A page must still show if this fails (an error page, a
    database that went away): then the link shows without its count."""
    try:
        return tasks.task_count(current_user._get_current_object())
    except Exception as exc:
        log.warning("task count unavailable: %s", type(exc).__name__)
        return None


@bp.route("/inbox")
@login_required
def inbox():
    return render_template("notifications/inbox.html", tasks=tasks.tasks_for(current_user._get_current_object()),
                           preference=services.preference(current_user), mail_enabled=services.mail_enabled(),
                           form=FlaskForm())


@bp.route("/inbox/settings", methods=["POST"])
@login_required
def settings():
    if not FlaskForm().validate():
        flash("フォームの有効期限が切れました。もう一度操作してください。", "error")
        return redirect(url_for("notifications.inbox"))
    try:
        chosen = services.set_preference(current_user, urgent=request.form.get("urgent", "false"))
    except DomainError as exc:
        flash_refusal(exc)
    else:
        flash("至急のメールも受け取るように設定しました。" if chosen.urgent else "まとめメールだけを受け取るように設定しました。",
              "success")
    return redirect(url_for("notifications.inbox"))


def _settings_data() -> dict:
    form = request.form
    return {"host": form.get("host", ""), "port": form.get("port", ""), "username": form.get("username", ""),
            "password": form.get("password", ""), "sender": form.get("sender", ""),
            "starttls": "starttls" in form, "enabled": "enabled" in form,
            "clear_password": "clear_password" in form}


@bp.route("/admin/mail", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def mail_settings():
    form, status = FlaskForm(), 200
    if request.method == "POST":
        if not form.validate():
            flash("フォームの有効期限が切れました。もう一度操作してください。", "error")
            status = 400
        else:
            try:
                services.save_settings(current_user, _settings_data())
            except DomainError as exc:
                flash(exc.message, "error")
                status = exc.status
            else:
                flash("メール送信の設定を保存しました。", "success")
                return redirect(url_for("notifications.mail_settings"))
    return render_template("admin/mail.html", settings=services.get_settings(), form=form,
                           values=request.form if request.method == "POST" else None,
                           mails=services.recent_mails(current_user), labels=DELIVERY_LABELS), status


@bp.route("/admin/mail/test", methods=["POST"])
@role_required(Role.ADMIN)
def mail_test():
    if not FlaskForm().validate():
        flash("フォームの有効期限が切れました。もう一度操作してください。", "error")
    else:
        to = request.form.get("to", "")
        try:
            services.send_test_mail(current_user, to)
        except DomainError as exc:
            flash(exc.message, "error")
        else:
            flash(f"{to} へテストメールを送信しました。届いたことを確認してください。", "success")
    return redirect(url_for("notifications.mail_settings"))


@bp.route("/admin/mail/addresses", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def addresses():
    form, status = FlaskForm(), 200
    if request.method == "POST":
        if not form.validate():
            flash("フォームの有効期限が切れました。もう一度操作してください。", "error")
            status = 400
        else:
            try:
                user = services.set_email(current_user, request.form.get("login", ""), request.form.get("email", ""))
            except DomainError as exc:
                flash(exc.message, "error")
                status = exc.status
            else:
                flash(f"{user.name}さんのメールアドレスを{'登録' if user.email else '削除'}しました。", "success")
                return redirect(url_for("notifications.addresses"))
    return render_template("admin/mail_addresses.html", users=services.recipients(), form=form), status
