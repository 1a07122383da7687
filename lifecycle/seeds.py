"""Demo master data and users, for a first look at the product."""
from __future__ import annotations

from datetime import date, timedelta

from .auth import services as auth
from .actors import DEMO as ACTOR

DEMO_PASSWORD = "lifecycle-demo-2026"

DEPARTMENTS = (
    ("shicho", "市町課", True),
    ("zeimu", "税務課", False),
    ("jidosha", "自動車税事務所", False),
    ("jutaku", "住宅課", False),
    ("imu", "医務保険課", False),
    ("shogai", "障害者支援課", False),
    ("ryoken", "旅券センター", False),
    ("kenpoku-fukushi", "県北広域本部 福祉課", False),
    ("kennan-zeimu", "県南広域本部 税務課", False),
)

BUSINESSES = (
    ("passport", "旅券の発給に関する事務", "住基法別表第5"),
    ("car-tax", "自動車税の賦課徴収に関する事務", "住基法別表第5"),
    ("housing-rent", "県営住宅の滞納家賃等の徴収に関する事務", "県条例"),
    ("nurse-loan", "看護師等修学資金貸付金の債権管理に関する事務", "県条例"),
    ("disability-mutual", "心身障害者扶養共済に関する事務", "県条例"),
    ("sme-loan", "中小企業設備近代化資金の債権管理に関する事務", "県条例"),
)

#: login, name, department, roles. The name is the person's only: pages add the department.
USERS = (
    ("admin", "市町 太郎", "shicho", ("admin",)),
    ("admin2", "県庁 次郎", "shicho", ("admin",)),
    ("bulk", "一括 花子", "shicho", ("bulk_operator", "registrar")),
    ("registrar", "登録 一郎", "zeimu", ("registrar",)),
    ("registrar2", "旅券 二郎", "ryoken", ("registrar",)),
    ("security", "安全 管理子", "shicho", ("security_manager",)),
    ("security2", "保護 守", "zeimu", ("security_manager",)),
    ("auditor", "監査 正", "shicho", ("auditor",)),
)

def _demo_training_day() -> date:
    """This 年度's training (10 April, or today early in April), so the demo's roles are effective on
    whatever day it is loaded."""
    from .clock import fiscal_year, today_jst
    today = today_jst()
    return min(today, date(fiscal_year(today), 4, 10))


TRAINED_ON = _demo_training_day()

ALL_CLAUSES = ["confidentiality", "no_subcontracting", "onsite_inspection", "incident_report",
               "erasure_proof", "pledge"]
#: name, services, (contract number, start); 再委託: 原則禁止, so none is approved. Each contract
#: runs to the end of the 年度 after next, and this 年度's 誓約書 and a recent 実地確認 are on
#: file, so the demo is in order on whatever day it is loaded.
CONTRACTORS = (
    ("九州リース株式会社", ["leasing"], ("L-2021-0042", date(2021, 4, 1))),
    ("九州データ消去株式会社", ["erasure", "transport"], ("保守-2024-003", date(2024, 4, 1))),
    ("肥後紙業リサイクル株式会社", ["pulping", "transport"], ("溶解-2025-011", date(2025, 4, 1))),
)


def load_demo() -> list[tuple[str, str]]:
    """Creates what is missing and returns (login, name) of the demo users."""
    existing_depts = {d.code for d in auth.list_departments()}
    for code, name, owner in DEPARTMENTS:
        if code not in existing_depts:
            auth.create_department(ACTOR, code, name, system_owner=owner)
    existing_business = {b.code for b in auth.list_businesses()}
    for code, name, basis in BUSINESSES:
        if code not in existing_business:
            auth.create_business(ACTOR, code, name, basis)
    existing_users = {u.login for u in auth.list_users()}
    for login, name, dept, roles in USERS:
        if login not in existing_users:
            auth.create_user(ACTOR, login, name, dept, roles=roles, trained_on=TRAINED_ON,
                             password=DEMO_PASSWORD)
    _load_contractors()
    return [(login, name) for login, name, _d, _r in USERS]


def _load_contractors() -> None:
    """The lessor, the maintenance (erasure) vendor and a pulping contractor, with this year's
    誓約書 and a 実地確認 each."""
    from .clock import today_jst
    from .contractors import services as contractors

    today = today_jst()
    year = contractors.fiscal_year(today)
    end = date(year + 2, 3, 31)
    existing = {c.name for c in contractors.list_contractors()}
    for name, services, (number, start) in CONTRACTORS:
        if name in existing:
            continue
        contractor = contractors.register_contractor(ACTOR, {
            "name": name, "services": services,
            "contract": {"number": number, "start": start.isoformat(), "end": end.isoformat(),
                         "clauses": ALL_CLAUSES}})
        contractors.record_pledge(ACTOR, contractor.id, {"received_on": date(year, 4, 1).isoformat(),
                                                          "fiscal_year": year, "signatories": "従事者 4名"})
        contractors.record_inspection(ACTOR, contractor.id, {
            "on": max(date(year, 4, 1), today - timedelta(days=30)).isoformat(), "by": "安全 管理子（市町課）",
            "observed": "作業場所の入退室管理と媒体の保管状況",
            "findings": "なし"})


DEMO_MY_NUMBER = "123456789018"  #: a made-up number with a valid check digit (no real person's)


def load_demo_items() -> list[str]:
    """Items in every state, made by the demo users through the real services (so the audit log
    says who did what), for a first tour: a hand-off waiting, a form past its retention, a medium
    out on loan, a batch awaiting its witness, a destroyed form, a device awaiting its erasure
    certificate and a retained 個人番号. Does nothing if any item exists; returns the codes made."""
    from datetime import datetime, timedelta

    from .auth.services import get_user
    from .clock import today_jst
    from .custody import services as custody
    from .destruction import services as destruction
    from .devices import services as devices
    from .items.queries import LedgerFilters, ledger_count
    from .items.services import register_item
    from .mynumber import services as mynumber

    if ledger_count(LedgerFilters(), ACTOR):
        return []
    user = {login: get_user(login) for login, *_ in USERS}
    made = []

    def form(login, title, **extra):
        item = register_item(user[login], {"kind": "form", "title": title, "business": extra.pop("business", "car-tax"),
                                           "sheets": 2, "contains_my_number": False, **extra})
        made.append(item.code)
        return item

    today = today_jst()
    # 登録済: just registered.
    form("registrar", "自動車税 課税台帳 出力（令和8年度 第1期）", location="税務課 書庫A-3")
    # 保管中 after a hand-off: registered at the 旅券センター, accepted at 税務課.
    handed = form("registrar2", "旅券 住民票照会結果 一覧", business="passport", location="旅券センター 金庫")
    transfer = custody.request_transfer(user["registrar2"], handed.code, "registrar", note="照会結果の確認のため")
    custody.accept_transfer(user["registrar"], transfer.id, location="税務課 書庫A-1")
    form("registrar2", "旅券 申請者 住民票照会結果", business="passport", location="旅券センター 金庫")
    # 引継ぎ中: waiting for 旅券 二郎 to accept.
    moving = form("registrar", "自動車税 減免申請 照会結果", location="税務課 書庫A-3")
    custody.request_transfer(user["registrar"], moving.code, "registrar2", note="旅券センターでの確認用")
    # 保存期限超過: printed 45 days ago and registered only now.
    printed = (datetime.combine(today - timedelta(days=45), datetime.min.time()) + timedelta(hours=10)).isoformat()
    form("registrar", "自動車税 滞納整理 照会結果（期限超過）", output_at=printed, location="税務課 書庫B-1")
    # 廃棄待ち: a batch awaiting its witness.
    waiting = form("registrar", "自動車税 課税資料（廃棄予定）", location="税務課 書庫A-3")
    destruction.create_batch(user["registrar"], items=[waiting.code], method="shred", place="税務課 シュレッダー室")
    # 廃棄済: shredded by 登録 一郎, witnessed by 保護 守.
    done = form("registrar", "自動車税 課税資料（令和7年度）", location="税務課 書庫A-3")
    batch = destruction.create_batch(user["registrar"], items=[done.code], method="shred", place="税務課 シュレッダー室")
    destruction.witness_batch(user["security2"], batch.id)
    # 提供中: a medium out on loan, due back today (the services take no past due date; from
    # tomorrow it is overdue and on the exceptions list), and one returned.
    for title, returned in (("旅券 一括提供データ（教育委員会）", False), ("自動車税 一括照会データ（県税事務所）", True)):
        medium = register_item(user["bulk"], {
            "kind": "medium", "title": title, "business": "passport" if not returned else "car-tax",
            "media_type": "CD-R", "record_count": 1200, "recipient": "教育委員会", "encrypted": True,
            "due_back": (today + timedelta(days=14)).isoformat(), "location": "市町課 金庫"})
        made.append(medium.code)
        custody.provide_medium(user["bulk"], medium.code, due_back=today.isoformat())
        if returned:
            custody.return_medium(user["bulk"], medium.code)
    # 使用中 and 消去依頼中: leased devices, one waiting for the vendor's erasure certificate.
    for n, erase in ((1, False), (2, True)):
        device = register_item(user["bulk"], {
            "kind": "device", "title": f"住基ネット 業務端末 市町課{n}", "device_type": "業務端末",
            "asset_tag": f"DEMO-{n:04d}", "model": "FMV-D7000", "serial": f"SN-DEMO-{n:04d}",
            "lessor": "九州リース株式会社", "lease_contract": "L-2021-0042", "lease_start": "2021-04-01",
            "lease_end": "2027-03-31", "location": "市町課 執務室", "has_storage": True,
            "storage": [{"media_type": "HDD", "serial": f"HDD-DEMO-{n:04d}", "make": "東芝", "model": "MQ04ABF100",
                         "capacity_gb": 1000}]})
        made.append(device.code)
        if erase:
            devices.request_erasure(user["bulk"], device.code, reason="lease_end", note="リース満了に伴う返却")
    made.extend(_load_terminals(user, made))
    _load_auditors_desk(user)
    # 保存中: a 個人番号 kept for a 照会 until the policy's default retention ends.
    mynumber.record_copy(user["bulk"], {"my_number": DEMO_MY_NUMBER, "provided_to": "県税事務所",
                                        "reason": "自動車税の課税のための照会（番号法 別表第一）"})
    return made


def _load_terminals(user: dict, made: list[str]) -> list[str]:
    """Two terminals and their 使用伺い簿: at 税務課 an approved use going on now, with a form printed
    under it; at 市町課 (the first demo device) a request for tomorrow waiting for 安全 管理子.
    Returns the codes of the forms it registered."""
    from datetime import datetime, timedelta

    from .clock import to_jst, utcnow
    from .items.services import register_item
    from .terminals import services as terminals

    device = next((code for code in made if code.startswith("D-")), None)
    terminals.register_terminal(ACTOR, {"code": "SHICHO-CS01", "name": "住基ネット CS端末（市町課）",
                                        "department": "shicho", "location": "市町課 執務室", "device": device})
    terminals.register_terminal(ACTOR, {"code": "ZEIMU-CS01", "name": "住基ネット 業務端末（税務課）",
                                        "department": "zeimu", "location": "税務課 執務室 窓際"})
    now = to_jst(utcnow()).replace(tzinfo=None, second=0, microsecond=0)
    day = now.replace(hour=0, minute=0)
    start = max(now - timedelta(hours=1), day + timedelta(minutes=1))
    end = min(now + timedelta(hours=1), day + timedelta(hours=23, minutes=59))
    use = terminals.request_use(user["registrar"], {
        "terminal": "ZEIMU-CS01", "business": "car-tax", "starts_at": start.isoformat(),
        "ends_at": end.isoformat(), "purpose": "自動車税の課税台帳の照会"})
    terminals.approve_use(user["security2"], use.id, {"no_camera_phone_usb": True})
    form = register_item(user["registrar"], {"kind": "form", "title": "自動車税 住所照会結果（使用伺いによる出力）",
                                             "business": "car-tax", "sheets": 1, "contains_my_number": False,
                                             "location": "税務課 書庫A-3", "terminal_use": use.id})
    # Its end is left for 登録 一郎 to record: an hour after its planned end it is an exception.
    tomorrow = datetime.combine(day.date() + timedelta(days=1), datetime.min.time())
    terminals.request_use(user["bulk"], {
        "terminal": "SHICHO-CS01", "business": "passport", "starts_at": (tomorrow + timedelta(hours=9)).isoformat(),
        "ends_at": (tomorrow + timedelta(hours=12)).isoformat(), "purpose": "旅券事務の一括照会データの作成"})
    return [form.code]


def _evidence_pdf(title: str, lines: list[str]) -> bytes:
    """A one-page PDF standing for a scanned record the department hands in as evidence."""
    import io

    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen.canvas import Canvas

    from .fonts import japanese_font

    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4)
    canvas.setFont(japanese_font(), 14)
    canvas.drawString(72, 770, title)
    canvas.setFont(japanese_font(), 10.5)
    for n, text in enumerate(lines):
        canvas.drawString(72, 740 - 18 * n, text)
    canvas.save()
    return buffer.getvalue()


def _load_auditors_desk(user: dict) -> None:
    """What an auditor's first tour finds: findings in each state of their life, this 年度's
    self-inspection of 税務課 half answered, and today's access log of the two demo terminals,
    imported and checked, with the quarter's draw and a look-back from a confirmed hit, some of
    its records marked and one 要確認 waiting for 税務課's answer."""
    import io

    from .clock import today_jst
    from .findings import services as findings
    from .selfinspection import services as selfinspection

    today = today_jst()
    due = (today + timedelta(days=60)).isoformat()

    def finding(department, summary, severity, refs=(), source="internal_audit"):
        return findings.raise_finding(user["auditor"], source=source, department_code=department, summary=summary,
                                      severity=severity, due_on=due, refs=list(refs))

    # 記録済: waiting for 税務課's plan.
    finding("zeimu", "帳票の保管庫（書庫A-3）の施錠記録に、11月分の記入漏れが3日分あった。", "medium",
            [{"kind": "terminal", "ref": "ZEIMU-CS01"}])
    # 計画提出済: 税務課 has planned, and is to act.
    planned = finding("zeimu", "端末の設置場所に、使用伺いの写しが掲示されていなかった。", "low")
    findings.submit_plan(user["security2"], planned.id, {"plan": "使用伺いの写しを端末の横に掲示し、毎朝の点検項目に加える。"})
    # 措置報告済: done, with evidence; waiting for a security manager other than 保護 守 on site.
    acted = finding("zeimu", "廃棄待ちの帳票が、施錠できない机の引出しに保管されていた。", "high")
    findings.submit_plan(user["security2"], acted.id, {"plan": "廃棄待ちの帳票は書庫A-3の施錠できる棚で保管する。"})
    findings.report_action(user["security2"], acted.id, {"action": "書庫A-3に廃棄待ち専用の施錠棚を設け、保管場所を周知した。"},
                           [(io.BytesIO(_evidence_pdf("廃棄待ち帳票の保管場所の変更について", [
                               "税務課 書庫A-3 に施錠棚を設置した。", "課内に周知した（課内回覧）。"])), "施錠棚の設置報告.pdf")])
    # 完了: 市町課 answered by 安全 管理子, confirmed on site by 保護 守.
    closed = finding("shicho", "一括利用媒体の返却確認が、提供先からの電話連絡だけで済まされていた。", "medium",
                     source="external_audit")
    findings.submit_plan(user["security"], closed.id, {"plan": "返却は現物と管理番号の照合で確認し、管理簿に記録する。"})
    findings.report_action(user["security"], closed.id, {"action": "返却時の照合手順を定め、担当者に研修した。"},
                           [(io.BytesIO(_evidence_pdf("一括利用媒体の返却確認手順", [
                               "1. 返却された媒体の管理番号を読み取る。", "2. 管理簿の提供記録と照合する。"])), "返却確認手順.pdf")])
    findings.confirm_on_site(user["security2"], closed.id, {"note": "市町課の金庫で、返却済み媒体2枚の照合記録を確認した。"})

    # 自己点検: 税務課 has answered the first items of this 年度's checklist and not yet filed.
    inspection = selfinspection.open_inspection(user["security2"])
    answers = {0: ("yes", "課長が指名し、課内会議で周知した。"), 2: ("yes", "執務室は施錠し、入室者を記録している。"),
               4: ("no", "USBメモリの持込み確認を毎日は行っていない。")}
    for position, item in enumerate(selfinspection.checklist()):
        if position in answers and not item.evidence_required:
            answer, note = answers[position]
            selfinspection.answer_item(user["security2"], inspection.id, item.id, {"answer": answer, "note": note})

    _load_access_log(user)


def _load_access_log(user: dict) -> None:
    """The log of the two demo terminals since the use at 税務課 was approved (a moment ago, as the
    demo was loaded): 登録 一郎 under that approval, 一括 花子 at 市町課 without one (tomorrow's is not
    yet approved), an operator ID nobody holds, an 出力 with no form registered near it. Earlier
    records would be flagged one and all, since the demo's people got their roles and approval
    only now; at night or on a holiday the checks flag the hour as well, as they should."""
    import io

    from sqlalchemy import func, select

    from .clock import to_jst, today_jst, utcnow
    from .extensions import db
    from .logreview import imports, services as logreview
    from .terminals.models import Terminal, TerminalUse

    approved = db.session.scalar(select(func.max(TerminalUse.approved_at)).join(Terminal)
                                 .where(Terminal.code == "ZEIMU-CS01"))
    start = to_jst(approved).replace(tzinfo=None, microsecond=0) + timedelta(seconds=1)
    now = to_jst(utcnow()).replace(tzinfo=None, microsecond=0)
    span = max((now - start).total_seconds(), 0)
    day = now.date()
    lines = ["日時,端末,操作者ID,利用事務,操作,件数"]

    def at(fraction: float) -> str:
        return (start + timedelta(seconds=span * fraction)).strftime("%Y-%m-%d %H:%M:%S")

    for n in range(24):
        operation = "出力" if n == 12 else "照会" if n % 6 else "提供"  # its form is the one registered above
        lines.append(f"{at(n / 30)},ZEIMU-CS01,registrar,自動車税の賦課徴収に関する事務,{operation},{n % 5 + 1}")
    lines.append(f"{at(0.82)},SHICHO-CS01,bulk,旅券の発給に関する事務,照会,1")
    lines.append(f"{at(0.86)},SHICHO-CS01,bulk,旅券の発給に関する事務,出力,12")
    lines.append(f"{at(0.9)},ZEIMU-CS01,tanaka01,自動車税の賦課徴収に関する事務,照会,3")
    lines.append(f"{at(0.95)},ZEIMU-CS01,registrar,自動車税の賦課徴収に関する事務,照会,2")
    lines.append("2026/13/01 9:00,ZEIMU-CS01,registrar,自動車税の賦課徴収に関する事務,照会,1")  # a bad line, reported
    source = {"accessed_at": "日時", "terminal": "端末", "operator": "操作者ID", "business": "利用事務",
              "operation": "操作", "records": "件数"}
    imports.define_source(ACTOR, "zeimu-cs", source)
    data = ("\n".join(lines) + "\n").encode("utf-8")
    imports.import_log(ACTOR, io.BytesIO(data), f"access-{day:%Y%m%d}.csv", "zeimu-cs")

    today = today_jst()
    review = logreview.open_review(user["auditor"], f"{today.year}Q{(today.month - 1) // 3 + 1}")
    for sample in review.samples:
        for n, row in enumerate(logreview.sample_rows(sample)[:3]):
            logreview.mark_record(user["auditor"], row.id, "ok", "承認された使用伺いの範囲内" if n == 0 else None)
    # The operator ID nobody holds, confirmed as a finding, and a look-back over the terminal's day.
    stranger = next(h for h in logreview.hit_rows(status="candidate") if h.rule == "no_role")
    logreview.decide_hit(user["auditor"], stranger.id, "confirmed", "操作者IDの貸与・共用の疑い", "high")
    lookback = logreview.open_lookback(user["auditor"], {
        "hit": stranger.id, "terminal": stranger.terminal, "date_from": today.isoformat(),
        "date_to": today.isoformat(), "reason": "登録のない操作者IDによる照会があったため、端末の当日の記録をすべて確認する"})
    rows = logreview.sample_rows(lookback.samples[0])
    for row in rows[:4]:
        logreview.mark_record(user["auditor"], row.id, "ok")
    queried = next(row for row in rows if row.operator == "tanaka01")
    logreview.mark_record(user["auditor"], queried.id, "query", "この操作者IDを使った職員と、照会の目的を回答してください。")
