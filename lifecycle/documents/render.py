"""Report renderers: plain data in, PDF or CSV bytes out (STYLE rule 7: no database here).

The services gather and word the data (Japanese labels, 和暦 dates for ledger cells); these
functions only lay it out. Dates given as `date`/`datetime` values are printed in 和暦 (JST).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from reportlab.lib.colors import black
from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfgen.canvas import Canvas

from ..fonts import japanese_font
from ..labels.qr import draw_qr
from ..wareki import wareki_date, wareki_datetime
from . import csvkit
from .pdfkit import GRID, MONO, MUTED, RED, SHADE, Fitter, Flow, Frame, Table, draw_footer, new_canvas

NOTHING = "該当なし"
Value = str | date | datetime | None


# --- inputs ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Checkpoint:
    """The latest signed audit checkpoint, printed so a paper copy can be tied to the log."""

    seq: int  #: the last audit event the checkpoint covers (第N号)
    head: str  #: hex chain hash at that event
    signed_at: datetime
    signature_ok: bool = True  #: False prints a red warning instead of 署名検証済


@dataclass(frozen=True)
class Imprint:
    """Who printed a report, when, and for which organisation; every report carries one."""

    organisation: str  #: e.g. ○○県総務部市町課
    printed_at: datetime
    printed_by: str  #: the person's name
    checkpoint: Checkpoint | None = None


@dataclass(frozen=True)
class LedgerReport:
    """One 管理簿. `rows` may be a generator (it is read once); cells are strings, already in
    和暦 where they are dates, in the order of `columns`."""

    kind: str  #: "form", "medium" or "device" (states.Kind values)
    columns: Sequence[tuple[str, float]]  #: (Japanese heading, relative width)
    rows: Iterable[Sequence[str]]
    imprint: Imprint
    period_from: date | None = None
    period_to: date | None = None
    filters: Sequence[tuple[str, str]] = ()  #: further conditions, e.g. ("所属", "税務課")


@dataclass(frozen=True)
class Holder:
    """One stretch of custody: who held the item and from when to when (None: still holds)."""

    name: str
    department: str
    since: date | datetime | None
    until: date | datetime | None = None


@dataclass(frozen=True)
class CustodyEvent:
    """One audit event about the item, as recorded in the hash chain."""

    seq: int
    at: datetime
    label: str  #: Japanese event label (audit.events.EVENT_LABELS)
    actor: str
    summary: str  #: what happened, in Japanese
    hash: str  #: hex chain hash of this event


@dataclass(frozen=True)
class EventProof:
    """One audit event's Merkle inclusion proof against a signed checkpoint's tree."""

    seq: int
    leaf_index: int  #: seq - 1
    audit_path: Sequence[str]  #: hex hashes, leaf side first


@dataclass(frozen=True)
class ProofSection:
    """The inclusion proofs a report prints (compactly; in full in its attachment)."""

    checkpoint_id: int
    tree_size: int
    root: str
    signature_ok: bool
    proofs: Sequence[EventProof]
    unproven: Sequence[int] = ()  #: events after the checkpoint


@dataclass(frozen=True)
class CustodyReport:
    """Everything the 保管履歴報告書 of one item shows."""

    code: str
    title: str
    fields: Sequence[tuple[str, Value]]  #: (label, value) — 種別, 利用事務, 所属, 状態, 保存期限…
    holders: Sequence[Holder]
    events: Sequence[CustodyEvent]
    head_seq: int  #: the audit log's current last event
    head_hash: str
    qr_data: str  #: the label URL, <base_url>/s/<payload>
    imprint: Imprint
    proofs: ProofSection | None = None


@dataclass(frozen=True)
class DestructionItem:
    code: str
    kind: str  #: Japanese kind label (帳票/媒体/機器)
    title: str
    department: str


@dataclass(frozen=True)
class DestructionRecord:
    """One destruction batch (廃棄) or one device erasure (消去証明, `erasure=True`)."""

    batch_id: str
    method: str  #: 裁断 / 溶解 / 破砕 / 消去 …
    place: str
    performer: str
    witness: str
    status: str  #: Japanese status label
    items: Sequence[DestructionItem]
    imprint: Imprint
    erasure: bool = False
    din_level: str | None = None  #: DIN 66399 security level, e.g. "P-4"
    planned_on: date | None = None
    performed_at: datetime | None = None
    certificate_name: str | None = None
    certificate_sha256: str | None = None
    integrity: str = ""  #: the caller's sentence, e.g. 証明書ファイルの整合性: 一致
    integrity_ok: bool | None = None  #: False prints `integrity` as a red warning
    extra: Sequence[tuple[str, Value]] = ()  #: further fields, e.g. ("リース会社", "…")
    proofs: ProofSection | None = None


class ExceptionCategory(StrEnum):
    MEDIUM_OVERDUE = "medium_overdue"
    RETENTION_PASSED = "retention_passed"
    AWAITING_WITNESS = "awaiting_witness"
    CERTIFICATE_MISSING = "certificate_missing"
    LEASE_ENDED_UNERASED = "lease_ended_unerased"
    PURGE_FAILED = "purge_failed"
    CONTRACTOR = "contractor"
    WEAK_ERASURE = "weak_erasure"
    TERMINAL_UNAPPROVED_USE = "terminal_unapproved_use"
    TERMINAL_NOT_CLOSED = "terminal_not_closed"
    TERMINAL_UNCOVERED_FORM = "terminal_uncovered_form"
    CUSTODY_UNCONFIRMED = "custody_unconfirmed"
    TRAINING_EXPIRED = "training_expired"
    RIGHTS_UNREVIEWED = "rights_unreviewed"
    STOCKTAKE_MISSING = "stocktake_missing"
    STOCKTAKE_DUE = "stocktake_due"
    FINDING_OVERDUE = "finding_overdue"
    LOG_HIT_CANDIDATE = "log_hit_candidate"
    LOG_QUERY_UNANSWERED = "log_query_unanswered"
    LOG_DRAW_DUE = "log_draw_due"


#: In the order the report lists them.
CATEGORY_LABELS = {
    ExceptionCategory.MEDIUM_OVERDUE: "返却期限超過の媒体",
    ExceptionCategory.RETENTION_PASSED: "保存期限超過の帳票・媒体",  # returned media too
    ExceptionCategory.AWAITING_WITNESS: "立会い待ちの廃棄",
    ExceptionCategory.CERTIFICATE_MISSING: "証明書未受領",
    ExceptionCategory.LEASE_ENDED_UNERASED: "リース満了後に消去証明のない機器",
    ExceptionCategory.PURGE_FAILED: "自動消去の失敗・未実行",
    ExceptionCategory.CONTRACTOR: "委託先の契約・条項・誓約書・実地確認・溶解証明書",
    ExceptionCategory.WEAK_ERASURE: "最低レベルに満たない消去証明の機器",
    ExceptionCategory.TERMINAL_UNAPPROVED_USE: "承認のない端末の使用",
    ExceptionCategory.TERMINAL_NOT_CLOSED: "使用終了が記録されていない端末の使用",
    ExceptionCategory.TERMINAL_UNCOVERED_FORM: "使用承認のない時間に端末から出力された帳票",
    ExceptionCategory.CUSTODY_UNCONFIRMED: "所在確認待ちの帳票・媒体（保管者の強制離任）",
    ExceptionCategory.TRAINING_EXPIRED: "研修の有効期限が切れた利用者（権限が無効）",
    ExceptionCategory.RIGHTS_UNREVIEWED: "期限までに確認されていない権限（権限の棚卸）",
    ExceptionCategory.STOCKTAKE_MISSING: "所在不明の帳票・媒体・機器（棚卸で見つからず）",
    ExceptionCategory.STOCKTAKE_DUE: "棚卸の期限が近い・過ぎている所属",
    ExceptionCategory.FINDING_OVERDUE: "改善期限を過ぎた指摘事項（現地確認まで未完了）",
    ExceptionCategory.LOG_HIT_CANDIDATE: "未判断のアクセスログ自動点検の該当",
    ExceptionCategory.LOG_QUERY_UNANSWERED: "所属の回答がないアクセスログ検証の要確認",
    ExceptionCategory.LOG_DRAW_DUE: "抽出がされていないアクセスログ検証の四半期",
}


#: Item codes begin with their kind: F- 帳票, M- 媒体, D- 機器.
_CODE_KINDS = {"F-": "帳票", "M-": "媒体", "D-": "機器"}


def section_label(category: ExceptionCategory, codes: Iterable[str], *, complete: bool = True) -> str:
    """A section's heading by what it holds: 保存期限超過の帳票 for forms only, …の媒体 for media
    only, …の帳票・媒体 for both or when some rows are not listed (`complete` False)."""
    label = CATEGORY_LABELS[category]
    if category != ExceptionCategory.RETENTION_PASSED or not complete:
        return label
    kinds = {_CODE_KINDS.get((code or "")[:2]) for code in codes}
    if kinds == {"帳票"}:
        return "保存期限超過の帳票"
    if kinds == {"媒体"}:
        return "保存期限超過の媒体"
    return label


@dataclass(frozen=True)
class ExceptionRow:
    category: ExceptionCategory
    code: str  #: may be empty (a failed purge run concerns no single item)
    title: str
    detail: str  #: e.g. 返却期限 令和8年10月31日（22日超過）


@dataclass(frozen=True)
class ExceptionGroup:
    department: str
    rows: Sequence[ExceptionRow] = field(default_factory=tuple)


@dataclass(frozen=True)
class ExceptionsReport:
    as_of: date
    groups: Sequence[ExceptionGroup]
    imprint: Imprint


LEDGER_TITLES = {"form": "帳票管理簿", "medium": "媒体管理簿", "device": "機器管理簿"}


# --- shared pieces --------------------------------------------------------------------------

def when(value: Value) -> str:
    """和暦 for dates and datetimes (JST), strings as given."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return wareki_datetime(value)
    if isinstance(value, date):
        return wareki_date(value)
    return str(value)


def checkpoint_line(cp: Checkpoint) -> str:
    status = "署名検証済" if cp.signature_ok else "署名不一致（改ざんの可能性）"
    return (f"監査ログ確認点: 第{cp.seq}号まで（{wareki_datetime(cp.signed_at)} 署名）"
            f"　ハッシュ {cp.head[:16]}…　{status}")


def printed_line(imprint: Imprint) -> str:
    return f"出力日時: {wareki_datetime(imprint.printed_at)}　出力者: {imprint.printed_by}"


def _footer(frame: Frame, title: str, imprint: Imprint):
    left = f"{title}　{wareki_datetime(imprint.printed_at)} 出力"

    def footer(canvas: Canvas, page: int, total: int) -> None:
        draw_footer(canvas, frame, page, total, left, imprint.organisation)
    return footer


def _continuation(frame: Frame, title: str, imprint: Imprint):
    """The small heading of the second and later pages."""
    def start(canvas: Canvas) -> float:
        font = japanese_font()
        y = frame.top - 10
        canvas.setFillColor(black)
        canvas.setFont(font, 10)
        canvas.drawString(frame.left, y, f"{title}（続き）")
        canvas.setFont(font, 7.5)
        canvas.setFillColor(MUTED)
        canvas.drawRightString(frame.right, y, imprint.organisation)
        canvas.setFillColor(black)
        return y - 10
    return start


def _text(canvas: Canvas, x: float, y: float, text: str, size: float, *, colour=black,
          font: str | None = None, align: str = "left") -> None:
    canvas.setFillColor(colour)
    canvas.setFont(font or japanese_font(), size)
    {"left": canvas.drawString, "right": canvas.drawRightString,
     "centre": canvas.drawCentredString}[align](x, y, text)
    canvas.setFillColor(black)


def _checkpoint(flow: Flow, cp: Checkpoint | None, size: float = 7.5) -> None:
    if cp is None:
        return
    flow.need(size * 1.6)
    flow.skip(size * 1.4)
    _text(flow.canvas, flow.frame.left, flow.y, checkpoint_line(cp), size,
          colour=MUTED if cp.signature_ok else RED)


def _heading(flow: Flow, text: str, size: float = 10.5) -> None:
    """A section heading that never sits alone at the bottom of a page."""
    flow.need(size * 2 + 40)
    flow.skip(size * 1.6)
    c = flow.canvas
    c.setFillColor(black)
    c.rect(flow.frame.left, flow.y - 1.5, 3, size + 1, stroke=0, fill=1)
    _text(c, flow.frame.left + 7, flow.y, text, size)
    flow.skip(size * 0.7)


def _field_grid(flow: Flow, pairs: Sequence[tuple[str, Value]], *, label_width: float = 110,
                width: float | None = None) -> None:
    """Label / value rows with a shaded label column, wrapping long values."""
    font = japanese_font()
    size, leading, pad = 8.5, 11.5, 3
    fitter = Fitter(font, size)
    left = flow.frame.left
    width = width or flow.frame.inner_width
    value_width = width - label_width - 2 * pad
    c = flow.canvas
    for label, value in pairs:
        lines = fitter.wrap(when(value), value_width, 6)
        h = len(lines) * leading + 2 * pad
        flow.need(h)
        y = flow.y
        c.setStrokeColor(GRID)
        c.setLineWidth(0.4)
        c.setFillColor(SHADE)
        c.rect(left, y - h, label_width, h, stroke=1, fill=1)
        c.rect(left + label_width, y - h, width - label_width, h, stroke=1, fill=0)
        c.setFillColor(black)
        c.setFont(font, size)
        c.drawString(left + pad, y - pad - size, fitter.fit(label, label_width - 2 * pad))
        base = y - pad - size
        for line in lines:
            c.drawString(left + label_width + pad, base, line)
            base -= leading
        flow.y = y - h


def _nothing(flow: Flow) -> None:
    flow.need(24)
    flow.skip(16)
    _text(flow.canvas, flow.frame.left + 6, flow.y, NOTHING, 10)
    flow.skip(6)


def _title_block(flow: Flow, title: str, imprint: Imprint, *, subtitle: str = "",
                 title_width: float | None = None) -> None:
    """Title, organisation and who printed it, at the top of the first page."""
    c, frame = flow.canvas, flow.frame
    flow.skip(18)
    _text(c, frame.left, flow.y, title, 16)
    if subtitle:
        _text(c, frame.left + Fitter(japanese_font(), 16).width(title) + 10, flow.y, subtitle, 10)
    flow.skip(16)
    right = frame.left + title_width if title_width else frame.right
    _text(c, frame.left, flow.y, imprint.organisation, 9.5)
    _text(c, right, flow.y, printed_line(imprint), 8, align="right")


def _finish(buffer, canvas: Canvas) -> bytes:
    canvas.save()
    return buffer.getvalue()


# --- 管理簿 -----------------------------------------------------------------------------------

def period_text(start: date | None, end: date | None) -> str:
    if start is None and end is None:
        return "指定なし"
    return f"{wareki_date(start) if start else ''}～{wareki_date(end) if end else ''}"


def render_ledger_pdf(ledger: LedgerReport) -> bytes:
    """A4 landscape; a row per item, cut with "…" rather than wrapped so pages stay countable."""
    try:
        title = LEDGER_TITLES[str(ledger.kind)]
    except KeyError:
        raise ValueError(f"管理簿の種別が不正です: {ledger.kind}") from None
    imprint = ledger.imprint
    pagesize = landscape(A4)
    frame = Frame.of(pagesize, margin=28, bottom=36)
    count_at: list[float] = []
    rows_seen = [0]
    page_footer = _footer(frame, title, imprint)

    def footer(canvas: Canvas, page: int, total: int) -> None:
        page_footer(canvas, page, total)
        if page == 1:  # the count is known only once every row is drawn
            _text(canvas, count_at[0], count_at[1], f"件数: {rows_seen[0]:,}件", 9, align="right")

    buffer, canvas = new_canvas(pagesize, title=title, author=imprint.organisation, footer=footer)
    flow = Flow(canvas, frame, _continuation(frame, title, imprint))
    _title_block(flow, title, imprint)
    flow.skip(13)
    conditions = [("期間", period_text(ledger.period_from, ledger.period_to)), *ledger.filters]
    text = "　".join(f"{label}: {value}" for label, value in conditions)
    text = Fitter(japanese_font(), 8.5).fit(text, frame.inner_width - 120)  # room for 件数
    _text(canvas, frame.left, flow.y, text, 8.5)
    count_at[:] = [frame.right, flow.y]
    _checkpoint(flow, imprint.checkpoint)
    flow.skip(8)

    headers = [h for h, _ in ledger.columns]
    table = Table(flow, headers, [w for _, w in ledger.columns], size=7.5, leading=9, pad=2)
    table.header()
    rows_seen[0] = table.single_line_rows(ledger.rows)
    if not rows_seen[0]:
        _nothing(flow)
    return _finish(buffer, canvas)


def iter_ledger_csv(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> Iterator[bytes]:
    """The ledger as CSV for Excel, streamed in chunks; see csvkit for the encoding choices."""
    return csvkit.iter_csv(columns, rows)


# --- 保管履歴報告書 ---------------------------------------------------------------------------

QR_SIZE = 76


def _draw_qr(canvas: Canvas, data: str, x: float, y: float, size: float) -> None:
    # Imported here: the label package is optional for callers that only want CSV.
    draw_qr(canvas, data, x, y, size)


def render_custody_pdf(report: CustodyReport) -> bytes:
    """A4 portrait: the item, its holders, and every event with its hash, for an auditor."""
    title = "保管履歴報告書"
    imprint = report.imprint
    frame = Frame.of(A4, margin=36, bottom=44)
    buffer, canvas = new_canvas(A4, title=f"{title} {report.code}", author=imprint.organisation,
                                footer=_footer(frame, f"{title} {report.code}", imprint))
    flow = Flow(canvas, frame, _continuation(frame, f"{title} {report.code}", imprint))
    _draw_qr(canvas, report.qr_data, frame.right - QR_SIZE, frame.top - QR_SIZE, QR_SIZE)
    text_width = frame.inner_width - QR_SIZE - 12
    _title_block(flow, title, imprint, subtitle="（カストディレポート）", title_width=text_width)
    flow.skip(22)
    _text(canvas, frame.left, flow.y, report.code, 15)
    flow.skip(14)
    _text(canvas, frame.left, flow.y, Fitter(japanese_font(), 10).fit(report.title, text_width), 10)
    _checkpoint(flow, imprint.checkpoint, 7)
    flow.y = min(flow.y, frame.top - QR_SIZE) - 4

    _heading(flow, "対象")
    _field_grid(flow, [("管理番号", report.code), ("件名", report.title), *report.fields])

    _heading(flow, "保管者の履歴")
    holders = Table(flow, ["氏名", "所属", "開始", "終了"], [3, 4, 4, 4], size=8)
    holders.header()
    for h in report.holders:
        holders.row([h.name, h.department, when(h.since), when(h.until) or "（現在）"])
    if not report.holders:
        _nothing(flow)

    _heading(flow, f"記録（監査ログ {len(report.events)}件）")
    events = Table(flow, ["連番", "日時", "種別", "実施者", "内容"], [5, 15, 13, 11, 33], size=7.5)
    events.header()
    for e in report.events:
        events.row([str(e.seq), when(e.at), e.label, e.actor, e.summary], max_lines=6,
                   note=("ハッシュ", e.hash), note_from=1)
    if not report.events:
        _nothing(flow)

    _proofs(flow, report.proofs)

    _heading(flow, "監査ログの現在の先頭")
    flow.need(30)
    flow.skip(10)
    _text(canvas, frame.left, flow.y, f"第{report.head_seq}号", 8.5)
    _text(canvas, frame.left + 70, flow.y, report.head_hash, 8, font=MONO)
    flow.skip(12)
    _text(canvas, frame.left, flow.y,
          "各記録のハッシュは監査ログのハッシュチェーン上の値です。監査ログの検証で改ざんのないことを確認できます。",
          7, colour=MUTED)
    return _finish(buffer, canvas)


# --- 廃棄記録書 / 消去証明受領記録 ------------------------------------------------------------

def _proofs(flow: Flow, section: ProofSection | None) -> None:
    """Each event's leaf index and compact inclusion proof (the first 8 hex digits of each path
    hash) against one signed checkpoint; the full proofs are in the PDF's attachment."""
    if section is None:
        return
    _heading(flow, f"包含証明（監査ログ確認点 第{section.checkpoint_id}号、記録 {section.tree_size} 件の Merkle 木）")
    flow.need(30)
    flow.skip(10)
    _text(flow.canvas, flow.frame.left, flow.y, "根ハッシュ", 7.5)
    _text(flow.canvas, flow.frame.left + 50, flow.y, section.root, 7, font=MONO)
    if not section.signature_ok:
        flow.skip(11)
        _text(flow.canvas, flow.frame.left, flow.y, "【警告】この確認点の署名を検証できません。", 8, colour=RED)
    table = Table(flow, ["連番", "葉番号", "確認点", "包含証明（各ハッシュの先頭8桁、葉の側から）"], [5, 5, 6, 46], size=7)
    table.header()
    for proof in section.proofs:
        table.row([str(proof.seq), str(proof.leaf_index), f"第{section.checkpoint_id}号",
                   " ".join(h[:8] for h in proof.audit_path) or "（木は1件のみ）"], max_lines=6)
    for seq in section.unproven:
        table.row([str(seq), str(seq - 1), "—", "確認点より後の記録です。次の確認点で証明できます。"])
    if not section.proofs and not section.unproven:
        _nothing(flow)
    flow.need(20)
    flow.skip(11)
    _text(flow.canvas, flow.frame.left, flow.y,
          f"全桁の証明は添付ファイル audit-proofs.json にあります（検証: verify_audit_export.py --inclusion）。", 7,
          colour=MUTED)


def _signature_boxes(flow: Flow, boxes: Sequence[tuple[str, str]]) -> None:
    """Boxes for a handwritten signature, with the name printed above the line."""
    height, gap = 62, 14
    flow.need(height + 24)
    flow.skip(16)
    c, frame = flow.canvas, flow.frame
    width = (frame.inner_width - gap * (len(boxes) - 1)) / len(boxes)
    for i, (role, name) in enumerate(boxes):
        x = frame.left + i * (width + gap)
        c.setStrokeColor(GRID)
        c.setLineWidth(0.6)
        c.rect(x, flow.y - height, width, height, stroke=1, fill=0)
        _text(c, x + 5, flow.y - 12, f"{role}: {name}", 8.5)
        c.line(x + 5, flow.y - height + 12, x + width - 5, flow.y - height + 12)
        _text(c, x + 5, flow.y - height + 15, "署名", 7, colour=MUTED)
        _text(c, x + width - 5, flow.y - height + 3, "年　　月　　日", 7, colour=MUTED, align="right")
    flow.skip(height)


def render_destruction_pdf(record: DestructionRecord) -> bytes:
    """A4 portrait: what was destroyed or erased, how, by whom, witnessed by whom, and proof."""
    title = "消去証明受領記録" if record.erasure else "廃棄記録書"
    imprint = record.imprint
    frame = Frame.of(A4, margin=36, bottom=44)
    name = f"{title} {record.batch_id}"
    buffer, canvas = new_canvas(A4, title=name, author=imprint.organisation,
                                footer=_footer(frame, name, imprint))
    flow = Flow(canvas, frame, _continuation(frame, name, imprint))
    _title_block(flow, title, imprint)
    _checkpoint(flow, imprint.checkpoint, 7)

    _heading(flow, "実施内容")
    if record.erasure:
        # An erasure is done by the vendor at its premises and certified for a day: no DIN level,
        # no place of ours, no schedule; the security manager checks and accepts the certificate.
        _field_grid(flow, [
            ("消去番号", record.batch_id),
            ("消去方法（NIST SP 800-88）", record.method),
            ("消去日", record.performed_at or "（記載なし）"),
            ("消去業者（作業者）", record.performer),
            ("証明書の確認・受理", record.witness),
            ("状態", record.status),
            *record.extra,
        ], label_width=150)
    else:
        _field_grid(flow, [
            ("廃棄番号", record.batch_id),
            ("廃棄方法", record.method),
            ("セキュリティレベル（DIN 66399）", record.din_level or "（指定なし）"),
            ("実施場所", record.place),
            ("予定日", record.planned_on),
            ("実施日時", record.performed_at or "（未実施）"),
            ("実施者", record.performer),
            ("立会者", record.witness),
            ("状態", record.status),
            *record.extra,
        ], label_width=150)

    _heading(flow, f"対象（{len(record.items)}件）")
    items = Table(flow, ["管理番号", "種別", "件名", "所属"], [9, 4, 22, 10], size=8)
    items.header()
    for item in record.items:
        items.row([item.code, item.kind, item.title, item.department], max_lines=3)
    if not record.items:
        _nothing(flow)

    _heading(flow, "証明書")
    _field_grid(flow, [("ファイル名", record.certificate_name or "（未受領）")], label_width=150)
    flow.need(18)
    y = flow.y
    h = 16
    canvas.setStrokeColor(GRID)
    canvas.setLineWidth(0.4)
    canvas.setFillColor(SHADE)
    canvas.rect(frame.left, y - h, 150, h, stroke=1, fill=1)
    canvas.rect(frame.left + 150, y - h, frame.inner_width - 150, h, stroke=1, fill=0)
    _text(canvas, frame.left + 3, y - 11, "SHA-256", 8.5)
    _text(canvas, frame.left + 153, y - 11, record.certificate_sha256 or "—", 8, font=MONO)
    flow.y = y - h
    if record.integrity:
        flow.need(24)
        flow.skip(16)
        if record.integrity_ok is False:
            canvas.setStrokeColor(RED)
            canvas.setLineWidth(1.2)
            canvas.rect(frame.left, flow.y - 5, frame.inner_width, 17, stroke=1, fill=0)
            _text(canvas, frame.left + 6, flow.y, f"【警告】{record.integrity}", 10, colour=RED)
        else:
            _text(canvas, frame.left, flow.y, record.integrity, 9,
                  colour=black if record.integrity_ok else MUTED)

    _signature_boxes(flow, [("消去業者", record.performer), ("確認・受理", record.witness)] if record.erasure
                     else [("実施者", record.performer), ("立会者", record.witness)])
    _proofs(flow, record.proofs)
    return _finish(buffer, canvas)


# --- 例外一覧 ---------------------------------------------------------------------------------

def render_exceptions_pdf(report: ExceptionsReport) -> bytes:
    """A4 portrait: a count per department and category, then the items behind each count."""
    title = "例外一覧"
    imprint = report.imprint
    frame = Frame.of(A4, margin=36, bottom=44)
    buffer, canvas = new_canvas(A4, title=title, author=imprint.organisation,
                                footer=_footer(frame, title, imprint))
    flow = Flow(canvas, frame, _continuation(frame, title, imprint))
    _title_block(flow, title, imprint, subtitle=f"（{wareki_date(report.as_of)}現在）")
    _checkpoint(flow, imprint.checkpoint, 7)

    categories = list(CATEGORY_LABELS)
    counts = [[sum(1 for r in g.rows if r.category == cat) for cat in categories]
              for g in report.groups]
    _heading(flow, "所属別件数")
    if not any(map(any, counts)):
        _nothing(flow)
        return _finish(buffer, canvas)
    summary = Table(flow, ["所属", *CATEGORY_LABELS.values(), "計"],
                    [13, *[6] * len(categories), 4], size=7.5,
                    align=["left", *["right"] * (len(categories) + 1)])
    summary.header()
    for group, row in zip(report.groups, counts):
        summary.row([group.department, *(f"{n}" if n else "—" for n in row), f"{sum(row)}"])
    totals = [sum(col) for col in zip(*counts)]
    summary.row(["合計", *map(str, totals), f"{sum(totals)}"])

    for group, row in zip(report.groups, counts):
        if not sum(row):
            continue
        _heading(flow, f"{group.department}（{sum(row)}件）", 11)
        for cat, n in zip(categories, row):
            if not n:
                continue
            flow.need(60)
            flow.skip(13)
            label = section_label(cat, (r.code for r in group.rows if r.category == cat))
            _text(canvas, frame.left + 4, flow.y, f"{label}（{n}件）", 9)
            flow.skip(5)
            table = Table(flow, ["管理番号", "件名", "内容"], [9, 20, 22], size=8)
            table.header()
            for r in group.rows:
                if r.category == cat:
                    table.row([r.code or "—", r.title, r.detail], max_lines=4)
    return _finish(buffer, canvas)


def open_report(pagesize, frame: Frame, title: str, imprint: Imprint, *, continued: str,
                title_size: float = 15, gap: float = 12):
    """(buffer, canvas, flow) of a report that starts like every other: footer with page numbers,
    「…（続き）」 at the top of later pages, then the title, when it was printed, and by whom."""
    font = japanese_font()

    def footer(canvas, page: int, total: int) -> None:
        draw_footer(canvas, frame, page, total, f"{title}　{wareki_datetime(imprint.printed_at)} 出力",
                    imprint.organisation)

    def continuation(canvas) -> float:
        y = frame.top - 10
        canvas.setFont(font, 10)
        canvas.drawString(frame.left, y, continued)
        return y - gap

    buffer, canvas = new_canvas(pagesize, title=title, author=imprint.organisation, footer=footer)
    flow = Flow(canvas, frame, continuation)
    flow.skip(18)
    canvas.setFillColor(black)
    canvas.setFont(font, title_size)
    canvas.drawString(frame.left, flow.y, title)
    canvas.setFont(font, 8)
    canvas.drawRightString(frame.right, flow.y, printed_line(imprint))
    flow.skip(16)
    canvas.setFont(font, 9.5)
    canvas.drawString(frame.left, flow.y, imprint.organisation)
    return buffer, canvas, flow
