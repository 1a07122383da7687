"""Policy values with their defaults, Japanese descriptions and bounds, in one table."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select

from .. import durations
from ..actors import Actor
from ..audit.events import EventType
from ..audit.services import record_event
from ..clock import utcnow
from ..errors import Invalid
from ..extensions import db
from ..roles import Role, require_role
from .models import PolicySetting


@dataclass(frozen=True)
class Policy:
    key: str
    label: str
    default: object
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple = ()
    unit: str = ""

    @property
    def is_period(self) -> bool:
        """Kept in minutes, given and shown in 時間 or 日."""
        return self.unit == "分"


DIN_PAPER = ("P-1", "P-2", "P-3", "P-4", "P-5", "P-6", "P-7")
DIN_OPTICAL = ("O-1", "O-2", "O-3", "O-4", "O-5", "O-6", "O-7")
DIN_MAGNETIC = ("T-1", "T-2", "T-3", "T-4", "T-5", "T-6", "T-7")
DIN_HARD_DISK = ("H-1", "H-2", "H-3", "H-4", "H-5", "H-6", "H-7")
DIN_ELECTRONIC = ("E-1", "E-2", "E-3", "E-4", "E-5", "E-6", "E-7")
SANITIZATION_LEVELS = ("clear", "purge", "destroy")  #: NIST SP 800-88, weakest first

POLICIES = {p.key: p for p in (
    Policy("form.retention_days", "帳票の保存期間（出力日から廃棄までの日数）", 30, 1, 3650, unit="日"),
    Policy("medium.retention_days", "媒体の保存期間（返却日から廃棄までの日数）", 30, 1, 3650, unit="日"),
    Policy("medium.max_loan_days", "媒体の提供期間の上限（返却予定日までの日数）", 90, 1, 3650, unit="日"),
    Policy("device.lease_warning_days", "リース満了の事前通知（満了日の何日前から強調表示するか）", 180, 1, 3650, unit="日"),
    Policy("device.require_witnessed_storage_destruction",
           "リース機器の返却前に記憶装置の物理破壊（職員立会い）を必須とする（総務省ガイドライン 令和2年）",
           False, choices=(False, True)),
    # Stored in minutes (the API's unit), entered and shown in 時間 or 日 (durations.py).
    Policy("mynumber.default_minutes", "個人番号の一時保存期間（既定）", 4320, 60, 10080, unit="分"),
    Policy("mynumber.max_minutes", "個人番号の一時保存期間（上限）", 10080, 60, 43200, unit="分"),
    Policy("destruction.min_level.paper", "紙の廃棄の最低セキュリティレベル（DIN 66399）", "P-4", choices=DIN_PAPER),
    Policy("destruction.min_level.optical", "光ディスクの廃棄の最低セキュリティレベル（DIN 66399）", "O-4", choices=DIN_OPTICAL),
    Policy("destruction.min_level.magnetic", "磁気媒体の廃棄の最低セキュリティレベル（DIN 66399）", "T-4", choices=DIN_MAGNETIC),
    Policy("destruction.min_level.hard_disk", "ハードディスクの廃棄の最低セキュリティレベル（DIN 66399）", "H-4",
           choices=DIN_HARD_DISK),
    Policy("destruction.min_level.electronic", "電子記憶媒体（SSD 等）の廃棄の最低セキュリティレベル（DIN 66399）", "E-4",
           choices=DIN_ELECTRONIC),
    Policy("device.min_sanitization.resident_data",
           "住基ネット・個人番号のデータを保持した機器の消去の最低レベル（NIST SP 800-88）", "purge",
           choices=SANITIZATION_LEVELS),
    Policy("device.min_sanitization.other", "その他の機器の消去の最低レベル（NIST SP 800-88）", "clear",
           choices=SANITIZATION_LEVELS),
    Policy("contractor.contract_warning_days", "委託契約の満了の事前通知（満了日の何日前から例外に挙げるか）", 60, 1, 365,
           unit="日"),
    Policy("contractor.inspection_interval_days", "委託先の実地確認の間隔（これを超えると例外）", 365, 1, 1095, unit="日"),
    Policy("contractor.pulping_certificate_days",
           "溶解証明書の受理の期限（溶解の立会いの日から。過ぎても添付・受理されていなければ例外）", 30, 1, 365, unit="日"),
    Policy("training.valid_days", "研修の有効期間（受講日から。受講した年度の末日までは常に有効。満了の30日前から「やること」に表示）",
           365, 31, 3650, unit="日"),
    Policy("stocktake.interval_days", "棚卸の間隔（前回の棚卸の締めから。所属ごとに棚卸の画面で変更可）", 365, 30, 1095,
           unit="日"),
    Policy("stocktake.before_fiscal_year_end", "各年度末（3月31日）までに棚卸を済ませる", True, choices=(False, True)),
    Policy("rights_review.month", "権限の棚卸の月（各年度、この月の末日が確認の期限）", 6, 1, 12, unit="月"),
    Policy("logreview.sample_size", "アクセスログ検証の抽出件数（所属ごと、四半期ごとに抽出した1か月から）", 50, 1, 10000,
           unit="件"),
    Policy("logreview.raised_sample_size",
           "アクセスログ検証の抽出件数（指摘事項が未解決または最近あった所属、監査担当が引き上げた所属）", 200, 1, 10000,
           unit="件"),
    Policy("logreview.recent_finding_days", "抽出件数を引き上げる「最近の指摘」の期間", 365, 1, 3650, unit="日"),
    Policy("logreview.work_start_hour", "アクセスログ点検の執務時間の開始（これより前は夜間）", 8, 0, 23, unit="時"),
    Policy("logreview.work_end_hour", "アクセスログ点検の執務時間の終了（この時刻以降は夜間）", 20, 1, 24, unit="時"),
    Policy("logreview.output_match_minutes", "出力の記録と帳票の出力日時の許容差（前後）", 30, 1, 1440, unit="分"),
    Policy("notification.digest_hour", "毎日のまとめメールの送信時刻（日本時間、この時刻以降の最初の処理で送信）", 8, 0,
           23, unit="時"),
)}


def _parse(policy: Policy, raw):
    if isinstance(policy.default, bool):
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() in ("1", "true", "on", "yes"):
            return True
        if str(raw).lower() in ("0", "false", "off", "no", ""):
            return False
        raise Invalid(f"「{policy.label}」は有効か無効かを指定してください。", field=policy.key)
    if isinstance(policy.default, int):
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise Invalid(f"「{policy.label}」は整数で入力してください。", field=policy.key) from None
        if value < policy.minimum or value > policy.maximum:
            if policy.is_period:
                raise Invalid(f"「{policy.label}」は{durations.text(policy.minimum)}から"
                              f"{durations.text(policy.maximum)}までの範囲で入力してください。", field=policy.key)
            raise Invalid(f"「{policy.label}」は{policy.minimum}〜{policy.maximum}{policy.unit}の範囲で入力してください。",
                          field=policy.key)
        return value
    value = str(raw).strip()
    if policy.choices and value not in policy.choices:
        raise Invalid(f"「{policy.label}」は次から選んでください: {'、'.join(policy.choices)}", field=policy.key)
    return value


_VALUE = select(PolicySetting.value).where(PolicySetting.key == bindparam("key"))


def get(key: str):
    """The policy's current value (the override if an admin set one, else the default)."""
    policy = POLICIES[key]
    value = db.session.execute(_VALUE, {"key": key}).scalar()  # a column, not an object: cheaper
    return policy.default if value is None else _parse(policy, value)


def all_values() -> list[tuple[Policy, object]]:
    return [(p, get(p.key)) for p in POLICIES.values()]


#: What must change with a policy, in the transaction that changes it: key → functions of the new
#: value, registered by the package that depends on the policy (on_change).
FOLLOWERS: dict[str, list] = {}


def on_change(key: str, follow) -> None:
    if follow not in FOLLOWERS.setdefault(key, []):
        FOLLOWERS[key].append(follow)


def set_policy(actor: Actor, key: str, raw, unit: str | None = None) -> object:
    """Changes a policy; audited with the old and new value. A period may come as an amount of
    `unit` (hours or days, as the page gives it) instead of minutes."""
    with db.transaction() as session:
        require_role(actor, Role.ADMIN)
        if key not in POLICIES:
            raise Invalid(f"ポリシー「{key}」はありません。", field="key")
        policy = POLICIES[key]
        if unit is not None and policy.is_period:
            raw = durations.minutes(raw, unit, f"「{policy.label}」", field=key)
        value = _parse(policy, raw)
        old = get(key)
        if key == "mynumber.default_minutes" and value > get("mynumber.max_minutes"):
            raise Invalid("一時保存期間の既定値は上限以下にしてください。", field=key)
        if key == "mynumber.max_minutes" and value < get("mynumber.default_minutes"):
            raise Invalid("一時保存期間の上限は既定値以上にしてください。", field=key)
        row = session.get(PolicySetting, key)
        stored = str(value).lower() if isinstance(value, bool) else str(value)
        if row is None:
            session.add(PolicySetting(key=key, value=stored, updated_by=actor.login, updated_at=utcnow()))
        else:
            row.value, row.updated_by, row.updated_at = stored, actor.login, utcnow()
        record_event(EventType.POLICY_UPDATED, actor=actor, subject=f"policy:{key}", old=old, new=value)
        for follow in FOLLOWERS.get(key, ()):  # e.g. each user's last valid day, in this transaction
            follow(value)
        return value

