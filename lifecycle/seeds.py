"""Demo master data and users (SPEC.md "Demo data"), for a first look at the product."""
from __future__ import annotations

from datetime import date

from .auth import services as auth

ACTOR = "system:demo"
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

TRAINED_ON = date(2026, 4, 10)

ALL_CLAUSES = ["confidentiality", "no_subcontracting", "onsite_inspection", "incident_report",
               "erasure_proof", "pledge"]
#: name, services, (contract number, start, end); 再委託: 原則禁止, so none is approved.
CONTRACTORS = (
    ("九州リース株式会社", ["leasing"], ("L-2021-0042", date(2021, 4, 1), date(2027, 3, 31))),
    ("九州データ消去株式会社", ["erasure", "transport"], ("保守-2024-003", date(2024, 4, 1), date(2029, 3, 31))),
    ("肥後紙業リサイクル株式会社", ["pulping", "transport"], ("溶解-2025-011", date(2025, 4, 1), date(2028, 3, 31))),
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
    from .contractors import services as contractors

    existing = {c.name for c in contractors.list_contractors()}
    for name, services, (number, start, end) in CONTRACTORS:
        if name in existing:
            continue
        contractor = contractors.register_contractor(ACTOR, {
            "name": name, "services": services,
            "contract": {"number": number, "start": start.isoformat(), "end": end.isoformat(),
                         "clauses": ALL_CLAUSES}})
        contractors.record_pledge(ACTOR, contractor.id, {"received_on": "2026-04-15", "fiscal_year": 2026,
                                                          "signatories": "従事者 4名"})
        contractors.record_inspection(ACTOR, contractor.id, {
            "on": "2026-06-10", "by": "安全 管理子（市町課）", "observed": "作業場所の入退室管理と媒体の保管状況",
            "findings": "なし"})
