from __future__ import annotations

from datetime import timedelta

import tempfile

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user

from .. import clock, crypto, validation as v, web
from ..actors import SCHEDULER
from ..roles import Role
from ..errors import Invalid, NotFound
from ..web import role_required
from ..jobs import register_job
from . import describe
from ..audit import checkpoints, services
from ..audit.events import EVENT_LABELS, EventType, event_label

bp = Blueprint("audit", __name__, url_prefix="/audit")


def init_app(app) -> None:
    app.register_blueprint(bp)
    web.hooks.record_refusal = services.record_denied
    app.add_template_filter(event_label, "event_label")
    app.add_template_filter(describe.person, "person")
    register_job("audit_checkpoint", "監査ログ確認点の署名",
                 lambda: 1 if checkpoints.sign_checkpoint(SCHEDULER) else 0,
                 interval=lambda config: int(config.get("CHECKPOINT_INTERVAL_SECONDS", 86400)))
    register_job("audit_denied_counts", "匿名のアクセス拒否の件数の記録", services.summarise_denied,
                 interval=lambda _config: 300)


@bp.route("/")
@role_required(Role.AUDITOR, Role.ADMIN)
def events():
    args = request.args
    day_from = v.a_date(args.get("from"), "開始日", required=False, field="from")
    day_to = v.a_date(args.get("to"), "終了日", required=False, field="to")
    event_type = args.get("type") or None
    if event_type and event_type not in {e.value for e in EventType}:
        raise Invalid("指定された種別はありません。")
    flt = services.EventFilter(
        date_from=clock.jst_day_start_utc(day_from) if day_from else None,
        date_to=clock.jst_day_start_utc(day_to + timedelta(days=1)) if day_to else None,
        actor=(args.get("actor") or "").strip() or None,
        type=event_type,
        subject=(args.get("subject") or "").strip() or None,
    )
    try:
        page = max(1, int(args.get("page", 1)))
    except ValueError:
        page = 1
    rows, total = services.search_events(flt, page=page, per_page=50)
    return render_template("audit/events.html", rows=describe.event_rows(rows), total=total, page=page, per_page=50,
                           args=args, event_types=EVENT_LABELS, people=describe.people_choices())


@bp.route("/verify", methods=["GET", "POST"])
@role_required(Role.AUDITOR, Role.ADMIN)
def verify():
    result = checkpoints.verify_log(current_user) if request.method == "POST" else None
    return render_template("audit/verify.html", result=result)


@bp.route("/checkpoints", methods=["GET", "POST"])
@role_required(Role.AUDITOR, Role.ADMIN)
def checkpoint_list():
    if request.method == "POST":
        checkpoint = checkpoints.sign_checkpoint(current_user)
        flash(f"確認点 第{checkpoint.id}号に署名しました（記録 {checkpoint.seq} 件）。", "success")
        return redirect(url_for("audit.checkpoint_list"))
    return render_template("audit/checkpoints.html", checkpoints=checkpoints.list_checkpoints())


@bp.route("/signing-ca.pem")
@role_required(Role.AUDITOR, Role.ADMIN)
def signing_ca():
    """The CA certificate(s) of the report-signing certificate, for an auditor's PDF reader."""

    data = crypto.signing_ca_pem(current_app.instance_path)
    if not data.strip():
        raise NotFound("文書署名の CA 証明書が登録されていません。システム管理者に連絡してください。")
    return Response(data, mimetype="application/x-pem-file",
                    headers={"Content-Disposition": 'attachment; filename="lifecycle-signing-ca.pem"'})


@bp.route("/export.zip")
@role_required(Role.AUDITOR, Role.ADMIN)
def export():
    """The whole log with checkpoints, public key and the offline verifier, for another machine."""
    spool = tempfile.TemporaryFile()
    count = checkpoints.write_export(spool)
    checkpoints.record_export(current_user, count)
    spool.seek(0)
    name = f"lifecycle-audit-{clock.today_jst().isoformat()}.zip"
    return send_file(spool, mimetype="application/zip", as_attachment=True, download_name=name)
