"""Every kind of audit event, as "subject:action" strings with a Japanese label for people."""
from enum import StrEnum


class EventType(StrEnum):
    # accounts and master data
    LOGIN_SUCCEEDED = "auth:login_succeeded"
    LOGIN_FAILED = "auth:login_failed"
    ACCOUNT_LOCKED = "auth:account_locked"
    LOGGED_OUT = "auth:logged_out"
    TOKEN_ISSUED = "auth:token_issued"
    ACCESS_DENIED = "access:denied"
    ACCESS_DENIED_REPEATED = "access:denied_repeated"
    USER_CREATED = "user:created"
    USER_UPDATED = "user:updated"
    USER_DEACTIVATED = "user:deactivated"
    USER_REACTIVATED = "user:reactivated"
    PASSWORD_SET = "user:password_set"
    TRAINING_RECORDED = "user:training_recorded"
    TRAINING_WITHDRAWN = "user:training_withdrawn"
    USER_TRANSFERRED = "user:department_changed"
    USER_LEFT = "user:left"
    GRANT_REQUESTED = "role:grant_requested"
    GRANT_APPROVED = "role:grant_approved"
    GRANT_REFUSED = "role:grant_refused"
    GRANT_REQUEST_CANCELLED = "role:grant_request_cancelled"
    ROLE_CONFIRMED = "rights_review:confirmed"
    ROLE_REVIEW_REVOKED = "rights_review:revoked"
    ROLE_GRANTED = "role:granted"
    ROLE_REVOKED = "role:revoked"
    DEPARTMENT_CREATED = "department:created"
    DEPARTMENT_UPDATED = "department:updated"
    BUSINESS_CREATED = "business:created"
    BUSINESS_UPDATED = "business:updated"
    POLICY_UPDATED = "policy:updated"
    # items
    ITEM_REGISTERED = "item:registered"
    ITEM_UPDATED = "item:updated"
    LABEL_PRINTED = "label:printed"
    LABEL_FORGED = "label:forged"
    # stocktakes (棚卸) and what they find
    STOCKTAKE_PLANNED = "stocktake:planned"
    STOCKTAKE_SCANNED = "stocktake:scanned"
    STOCKTAKE_LOCATION_CORRECTED = "stocktake:location_corrected"
    STOCKTAKE_CLOSED = "stocktake:closed"
    STOCKTAKE_SIGNED = "stocktake:signed"
    STOCKTAKE_CANCELLED = "stocktake:cancelled"
    STOCKTAKE_HOLDER_CORRECTED = "stocktake:holder_corrected"
    ITEM_MISSING = "item:missing"
    ITEM_FOUND = "item:found"
    ITEM_WRITTEN_OFF = "item:written_off"
    # custody
    CUSTODY_STORED = "custody:stored"
    TRANSFER_REQUESTED = "custody:transfer_requested"
    TRANSFER_ACCEPTED = "custody:accepted"
    TRANSFER_REJECTED = "custody:rejected"
    TRANSFER_CANCELLED = "custody:cancelled"
    CUSTODY_UNCONFIRMED = "custody:unconfirmed"
    CUSTODY_REASSIGNED = "custody:reassigned"
    CUSTODY_CONFIRMED = "custody:confirmed"
    MEDIUM_PROVIDED = "medium:provided"
    MEDIUM_RETURNED = "medium:returned"
    EXCEPTION_RECORDED = "exception:recorded"
    EXCEPTION_RESOLVED = "exception:resolved"
    # destruction and erasure
    DESTRUCTION_REQUESTED = "destruction:requested"
    DESTRUCTION_WITNESSED = "destruction:witnessed"
    DESTRUCTION_CANCELLED = "destruction:cancelled"
    DESTRUCTION_CERTIFICATE_ATTACHED = "destruction:certificate_attached"
    DESTRUCTION_CERTIFICATE_ACCEPTED = "destruction:certificate_accepted"
    ITEM_DESTROYED = "item:destroyed"
    ERASURE_REQUESTED = "erasure:requested"
    ERASURE_WITHDRAWN = "erasure:withdrawn"
    ERASURE_CERTIFICATE_SUBMITTED = "erasure:certificate_submitted"
    ERASURE_CERTIFICATE_ACCEPTED = "erasure:certificate_accepted"
    ERASURE_CERTIFICATE_REJECTED = "erasure:certificate_rejected"
    DEVICE_RETURNED = "device:returned_to_lessor"
    FILE_INTEGRITY_FAILED = "file:integrity_failed"
    # contractors (委託先)
    CONTRACTOR_REGISTERED = "contractor:registered"
    CONTRACT_ADDED = "contractor:contract_added"
    PLEDGE_RECEIVED = "contractor:pledge_received"
    SUBCONTRACTOR_APPROVED = "contractor:subcontractor_approved"
    CONTRACTOR_INSPECTED = "contractor:inspected"
    # terminals and terminal-use approvals (使用伺い)
    TERMINAL_REGISTERED = "terminal:registered"
    TERMINAL_DEVICE_LINKED = "terminal:device_linked"
    TERMINAL_UPDATED = "terminal:updated"
    TERMINAL_USE_REQUESTED = "terminal_use:requested"
    TERMINAL_USE_APPROVED = "terminal_use:approved"
    TERMINAL_USE_REFUSED = "terminal_use:refused"
    TERMINAL_USE_CANCELLED = "terminal_use:cancelled"
    TERMINAL_USE_CLOSED = "terminal_use:closed"
    # access-log review (アクセスログ検証)
    ACCESS_LOG_SOURCE_DEFINED = "access_log:source_defined"
    ACCESS_LOG_IMPORTED = "access_log:imported"
    ACCESS_LOG_CHECKED = "access_log:checked"
    LOG_REVIEW_OPENED = "log_review:opened"
    LOG_LOOKBACK_OPENED = "log_review:lookback_opened"
    LOG_RECORD_MARKED = "log_review:record_marked"
    LOG_QUERY_ANSWERED = "log_review:query_answered"
    LOG_QUERY_ESCALATED = "log_review:query_escalated"
    LOG_HIT_DECIDED = "log_review:hit_decided"
    LOG_SAMPLING_RAISED = "log_review:sampling_raised"
    LOG_SAMPLING_LIFTED = "log_review:sampling_lifted"
    # findings (指摘事項) and the yearly self-inspection (自己点検)
    FINDING_RAISED = "finding:raised"
    FINDING_PLANNED = "finding:plan_submitted"
    FINDING_ACTION_REPORTED = "finding:action_reported"
    FINDING_CONFIRMED = "finding:confirmed_on_site"
    FINDING_SENT_BACK = "finding:sent_back"
    CHECKLIST_ITEM_ADDED = "checklist:item_added"
    CHECKLIST_ITEM_UPDATED = "checklist:item_updated"
    SELF_INSPECTION_OPENED = "self_inspection:opened"
    SELF_INSPECTION_ANSWERED = "self_inspection:answered"
    SELF_INSPECTION_FILED = "self_inspection:filed"
    SELF_INSPECTION_SAMPLED = "self_inspection:sampled"
    # 個人番号 copies
    MY_NUMBER_RETAINED = "mynumber:retained"
    MY_NUMBER_REVEALED = "mynumber:revealed"
    MY_NUMBER_PURGED = "mynumber:purged"
    PURGE_RUN = "mynumber:purge_run"
    # audit and operations
    AUDIT_VERIFIED = "audit:verified"
    CHECKPOINT_SIGNED = "audit:checkpoint_signed"
    TREE_REBUILT = "audit:tree_rebuilt"
    AUDIT_EXPORTED = "audit:exported"
    REPORT_GENERATED = "report:generated"
    SCHEDULER_LEADER = "scheduler:leader_acquired"
    BACKUP_TAKEN = "system:backup_taken"
    KEYS_ROTATED = "system:keys_rotated"
    SIGNING_CERT_INSTALLED = "system:signing_cert_installed"
    SYSTEM_INITIALISED = "system:initialised"
    # notification mail
    MAIL_SETTINGS_UPDATED = "mail:settings_updated"
    MAIL_TEST_SENT = "mail:test_sent"
    MAIL_PREFERENCE_SET = "mail:preference_set"
    USER_EMAIL_SET = "user:email_set"


EVENT_LABELS = {
    EventType.LOGIN_SUCCEEDED: "ログイン",
    EventType.LOGIN_FAILED: "ログイン失敗",
    EventType.ACCOUNT_LOCKED: "アカウントロック",
    EventType.LOGGED_OUT: "ログアウト",
    EventType.TOKEN_ISSUED: "APIトークン発行",
    EventType.ACCESS_DENIED: "アクセス拒否",
    EventType.ACCESS_DENIED_REPEATED: "アクセス拒否（同じ接続元から1分間に繰返し）",
    EventType.USER_CREATED: "利用者登録",
    EventType.USER_UPDATED: "利用者情報変更",
    EventType.USER_DEACTIVATED: "利用者の利用停止",
    EventType.USER_REACTIVATED: "利用者の利用再開",
    EventType.PASSWORD_SET: "パスワード設定",
    EventType.TRAINING_RECORDED: "研修受講の記録",
    EventType.TRAINING_WITHDRAWN: "研修受講記録の取消し",
    EventType.USER_TRANSFERRED: "異動",
    EventType.USER_LEFT: "退職・担当替え",
    EventType.GRANT_REQUESTED: "権限付与の承認依頼",
    EventType.GRANT_APPROVED: "権限付与の承認",
    EventType.GRANT_REFUSED: "権限付与の却下",
    EventType.GRANT_REQUEST_CANCELLED: "権限付与の承認依頼の取下げ",
    EventType.ROLE_CONFIRMED: "権限の棚卸（継続の確認）",
    EventType.ROLE_REVIEW_REVOKED: "権限の棚卸（取消し）",
    EventType.ROLE_GRANTED: "権限付与",
    EventType.ROLE_REVOKED: "権限取消し",
    EventType.DEPARTMENT_CREATED: "所属登録",
    EventType.DEPARTMENT_UPDATED: "所属変更",
    EventType.BUSINESS_CREATED: "利用事務登録",
    EventType.BUSINESS_UPDATED: "利用事務変更",
    EventType.POLICY_UPDATED: "保存期間ポリシー変更",
    EventType.ITEM_REGISTERED: "登録",
    EventType.ITEM_UPDATED: "登録内容の変更",
    EventType.LABEL_PRINTED: "ラベル印刷",
    EventType.LABEL_FORGED: "偽造ラベルの読取り",
    EventType.STOCKTAKE_PLANNED: "棚卸の計画",
    EventType.STOCKTAKE_SCANNED: "棚卸の読取り",
    EventType.STOCKTAKE_LOCATION_CORRECTED: "棚卸による保管場所の訂正",
    EventType.STOCKTAKE_CLOSED: "棚卸の締め",
    EventType.STOCKTAKE_SIGNED: "棚卸結果の確認（署名）",
    EventType.STOCKTAKE_CANCELLED: "棚卸の中止",
    EventType.STOCKTAKE_HOLDER_CORRECTED: "棚卸による保管者の訂正",
    EventType.ITEM_MISSING: "所在不明（棚卸で見つからず）",
    EventType.ITEM_FOUND: "所在不明からの発見",
    EventType.ITEM_WRITTEN_OFF: "亡失処理",
    EventType.CUSTODY_STORED: "保管開始",
    EventType.TRANSFER_REQUESTED: "引継ぎ",
    EventType.TRANSFER_ACCEPTED: "受領",
    EventType.TRANSFER_REJECTED: "差戻し",
    EventType.TRANSFER_CANCELLED: "引継ぎ取消し",
    EventType.CUSTODY_UNCONFIRMED: "所在確認待ち（保管者の強制離任）",
    EventType.CUSTODY_REASSIGNED: "保管責任者の変更（保管者の強制離任）",
    EventType.CUSTODY_CONFIRMED: "所在の確認",
    EventType.MEDIUM_PROVIDED: "提供",
    EventType.MEDIUM_RETURNED: "返却",
    EventType.EXCEPTION_RECORDED: "例外の記録",
    EventType.EXCEPTION_RESOLVED: "例外の解消",
    EventType.DESTRUCTION_REQUESTED: "廃棄申請",
    EventType.DESTRUCTION_WITNESSED: "廃棄立会い",
    EventType.DESTRUCTION_CANCELLED: "廃棄取消し",
    EventType.DESTRUCTION_CERTIFICATE_ATTACHED: "廃棄証明書の添付",
    EventType.DESTRUCTION_CERTIFICATE_ACCEPTED: "溶解証明書の受理",
    EventType.ITEM_DESTROYED: "廃棄",
    EventType.ERASURE_REQUESTED: "消去依頼",
    EventType.ERASURE_WITHDRAWN: "消去依頼の取下げ",
    EventType.ERASURE_CERTIFICATE_SUBMITTED: "消去証明書の登録",
    EventType.ERASURE_CERTIFICATE_ACCEPTED: "消去証明書の受理",
    EventType.ERASURE_CERTIFICATE_REJECTED: "消去証明書の差戻し",
    EventType.DEVICE_RETURNED: "リース会社へ返却",
    EventType.FILE_INTEGRITY_FAILED: "ファイル整合性エラー",
    EventType.CONTRACTOR_REGISTERED: "委託先の登録",
    EventType.CONTRACT_ADDED: "委託契約の登録",
    EventType.PLEDGE_RECEIVED: "誓約書の受領",
    EventType.SUBCONTRACTOR_APPROVED: "再委託の承認",
    EventType.CONTRACTOR_INSPECTED: "委託先の実地確認",
    EventType.TERMINAL_REGISTERED: "端末の登録",
    EventType.TERMINAL_DEVICE_LINKED: "端末と機器の結び付け",
    EventType.TERMINAL_UPDATED: "端末の使用停止・再開",
    EventType.TERMINAL_USE_REQUESTED: "端末の使用伺い",
    EventType.TERMINAL_USE_APPROVED: "端末の使用承認",
    EventType.TERMINAL_USE_REFUSED: "端末の使用伺いの却下",
    EventType.TERMINAL_USE_CANCELLED: "端末の使用伺いの取消し",
    EventType.TERMINAL_USE_CLOSED: "端末の使用終了",
    EventType.ACCESS_LOG_SOURCE_DEFINED: "アクセスログの列の対応付け",
    EventType.ACCESS_LOG_IMPORTED: "アクセスログの取込み",
    EventType.ACCESS_LOG_CHECKED: "アクセスログの自動点検",
    EventType.LOG_REVIEW_OPENED: "アクセスログ検証の抽出",
    EventType.LOG_LOOKBACK_OPENED: "アクセスログの遡り検証の開始",
    EventType.LOG_RECORD_MARKED: "アクセスログ検証の判定",
    EventType.LOG_QUERY_ANSWERED: "アクセスログ要確認への回答",
    EventType.LOG_QUERY_ESCALATED: "アクセスログ要確認の指摘事項化",
    EventType.LOG_HIT_DECIDED: "自動点検の該当の確定・取下げ",
    EventType.LOG_SAMPLING_RAISED: "アクセスログ検証の抽出件数の引上げ",
    EventType.LOG_SAMPLING_LIFTED: "アクセスログ検証の抽出件数の引上げ解除",
    EventType.FINDING_RAISED: "指摘事項の記録",
    EventType.FINDING_PLANNED: "改善計画の提出",
    EventType.FINDING_ACTION_REPORTED: "措置完了の報告",
    EventType.FINDING_CONFIRMED: "現地確認（完了）",
    EventType.FINDING_SENT_BACK: "現地確認（差戻し）",
    EventType.CHECKLIST_ITEM_ADDED: "自己点検項目の追加",
    EventType.CHECKLIST_ITEM_UPDATED: "自己点検項目の変更",
    EventType.SELF_INSPECTION_OPENED: "自己点検の開始",
    EventType.SELF_INSPECTION_ANSWERED: "自己点検の回答",
    EventType.SELF_INSPECTION_FILED: "自己点検の提出",
    EventType.SELF_INSPECTION_SAMPLED: "自己点検の抽出確認",
    EventType.MY_NUMBER_RETAINED: "個人番号の一時保存",
    EventType.MY_NUMBER_REVEALED: "個人番号の表示",
    EventType.MY_NUMBER_PURGED: "個人番号の消去",
    EventType.PURGE_RUN: "自動消去の実行",
    EventType.AUDIT_VERIFIED: "監査ログ検証",
    EventType.CHECKPOINT_SIGNED: "確認点の署名",
    EventType.TREE_REBUILT: "監査ログの Merkle 木の再構築",
    EventType.AUDIT_EXPORTED: "監査ログの出力",
    EventType.REPORT_GENERATED: "帳票出力",
    EventType.SCHEDULER_LEADER: "スケジューラの担当交代",
    EventType.BACKUP_TAKEN: "バックアップ",
    EventType.KEYS_ROTATED: "鍵の更新",
    EventType.SIGNING_CERT_INSTALLED: "文書署名証明書の登録",
    EventType.SYSTEM_INITIALISED: "初期化",
    EventType.MAIL_SETTINGS_UPDATED: "メール送信の設定変更",
    EventType.MAIL_TEST_SENT: "メールのテスト送信",
    EventType.MAIL_PREFERENCE_SET: "メールの受け取り方の変更",
    EventType.USER_EMAIL_SET: "メールアドレスの登録",
}


def event_label(value: str) -> str:
    return EVENT_LABELS.get(value, value)  # a StrEnum member hashes and compares as its value
