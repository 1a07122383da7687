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
