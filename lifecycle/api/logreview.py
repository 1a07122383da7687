"""Access logs and their review over the API (docs/api.md, Findings, access logs, self-inspection)."""
from __future__ import annotations

from flask import request

from ..clock import iso
from ..errors import BadRequest
from ..logreview import imports, services
from ..web import current_actor
from . import INTEGER, STRING, endpoint, json_body, nullable, ok, record
from ..logreview.checks import CHECKS

REJECTED = record({"line": INTEGER, "reason": STRING})
IMPORT_SCHEMA = record({"id": INTEGER, "rows": INTEGER, "sha256": STRING,
                        "rejected": {"type": "array", "items": REJECTED}, "rejected_total": INTEGER})
SAMPLE = record({"department": nullable(STRING), "department_name": STRING, "month": nullable(STRING),
                 "population": INTEGER, "size": INTEGER, "raised": {"type": "boolean"},
                 "raised_because": nullable(STRING), "records": {"type": "array", "items": INTEGER}})
REVIEW_SCHEMA = record({"id": INTEGER, "kind": STRING, "quarter": nullable(STRING),
                        "checkpoint": nullable(record({"id": INTEGER, "seq": INTEGER, "head": STRING})),
                        "seed": nullable(STRING), "samples": {"type": "array", "items": SAMPLE},
                        "parameters": {"type": "object"}})
RECORD_FIELDS = {"accessed_at": {"type": "string", "format": "date-time"}, "terminal": STRING, "operator": STRING,
                 "operator_name": STRING, "business": STRING, "operation": STRING, "records": INTEGER,
                 "department_name": STRING}
HIT_SCHEMA = record({"id": INTEGER, "record": INTEGER, "check": STRING, "check_name": STRING, "detail": STRING,
                     "status": STRING, "reason": nullable(STRING), "finding": nullable(INTEGER), **RECORD_FIELDS})
SAMPLED_SCHEMA = record({"id": INTEGER, "record": INTEGER, "mark": nullable(STRING), "note": nullable(STRING),
                         "answer": nullable(STRING), "finding": nullable(INTEGER), **RECORD_FIELDS})


def _review_json(review) -> dict:
    checkpoint = services.checkpoint_of(review)
    samples = []
    for sample in review.samples:
        samples.append({"department": sample.department.code if sample.department else None,
                        "department_name": sample.department.name if sample.department else "（端末未登録）",
                        "month": sample.month, "population": sample.population, "size": sample.size,
                        "raised": bool(sample.raised), "raised_because": sample.raised_because,
                        "records": [row.record_id for row in services.sample_rows(sample)]})
    return {"id": review.id, "kind": review.kind, "quarter": review.quarter,
            "checkpoint": {"id": checkpoint.id, "seq": checkpoint.seq, "head": checkpoint.head_hash} if checkpoint else None,
            "seed": review.seed, "samples": samples, "parameters": services.draw_parameters(review)}


def _record_fields(row) -> dict:
    return {"accessed_at": iso(row.accessed_at), "terminal": row.terminal, "operator": row.operator,
            "operator_name": row.operator_name, "business": row.business,
            "operation": imports.OPERATIONS.get(row.operation, row.operation), "records": row.records,
            "department_name": row.department_name}


def _hit_json(row) -> dict:

    return {"id": row.id, "record": row.record_id, "check": row.rule, "check_name": CHECKS[row.rule],
            "detail": row.detail, "status": row.status, "reason": row.reason, "finding": row.finding_id,
            **_record_fields(row)}


@endpoint("/access-logs", "POST", summary="端末のアクセスログ（CSV）を取り込む（システム管理者）。同じファイルは 409",
          request={"type": "object", "required": ["file"], "properties": {
              "file": {"type": "string", "format": "binary", "description": "CSV（UTF-8 または Shift_JIS、1行目は見出し）"},
              "source": {"type": "string", "description": "列の対応付けを登録した取込み元（省略時は既定の列名）"}}},
          multipart=True, response=IMPORT_SCHEMA, status=201, errors=(400, 403, 404, 409, 413, 422))
def access_log_import():
    upload = request.files.get("file")
    if upload is None:
        raise BadRequest("CSV ファイル（file）を添付してください。", code="file_missing")
    result = imports.import_log(current_actor(), upload.stream, upload.filename, request.form.get("source"))
    log_import = result.log_import
    return ok({"id": log_import.id, "rows": log_import.rows, "sha256": log_import.sha256,
               "rejected": [{"line": line, "reason": reason} for line, reason in result.rejected],
               "rejected_total": log_import.rejected}, 201)


@endpoint("/log-reviews", "POST", summary="四半期のアクセスログ検証を抽出する（監査担当）",
          request={"type": "object", "required": ["quarter"], "properties": {
              "quarter": {"type": "string", "description": "例: 2026Q3（Q1 は1〜3月）"}}},
          response=REVIEW_SCHEMA, status=201, errors=(400, 403, 409, 422))
def log_review_open():
    return ok(_review_json(services.open_review(current_actor(), json_body().get("quarter"))), 201)


@endpoint("/log-reviews/<review_id>", summary="アクセスログ検証", response=REVIEW_SCHEMA, errors=(403, 404))
def log_review_get(review_id):
    return ok(_review_json(services.get_review(current_actor(), review_id)))


@endpoint("/log-reviews/<review_id>/checks", summary="検証期間の自動点検の該当",
          response=record({"hits": {"type": "array", "items": HIT_SCHEMA}}), errors=(403, 404))
def log_review_checks(review_id):
    actor = current_actor()
    review = services.get_review(actor, review_id)
    return ok({"hits": [_hit_json(row) for row in services.review_hits(actor, review)]})


@endpoint("/log-reviews/<review_id>/samples/<department>", summary="所属の抽出記録と判定",
          response=record({"records": {"type": "array", "items": SAMPLED_SCHEMA}}), errors=(403, 404))
def log_review_sample(review_id, department):
    review = services.get_review(current_actor(), review_id)
    rows = services.sample_rows(services.sample_for(review, department))
    return ok({"records": [{"id": r.id, "record": r.record_id, "mark": r.mark, "note": r.note, "answer": r.answer,
                            "finding": r.finding_id, **_record_fields(r)} for r in rows]})


@endpoint("/log-review-records/<sampled_id>/mark", "POST", summary="抽出記録を判定する（問題なし ok／要確認 query）",
          request={"type": "object", "required": ["mark"], "properties": {
              "mark": {"type": "string", "enum": list(services.MARKS)}, "note": {"type": "string"}}},
          response=record({"id": INTEGER, "mark": STRING}), errors=(400, 403, 404, 409, 422))
def log_review_mark(sampled_id):
    body = json_body()
    found = services.mark_record(current_actor(), sampled_id, body.get("mark"), body.get("note"))
    return ok({"id": found.id, "mark": found.mark})


@endpoint("/log-review-records/<sampled_id>/answer", "POST", summary="要確認に回答する（所属のセキュリティ管理者）",
          request={"type": "object", "required": ["answer"], "properties": {"answer": {"type": "string"}}},
          response=record({"id": INTEGER, "answer": STRING}), errors=(400, 403, 404, 409, 422))
def log_review_answer(sampled_id):
    found = services.answer_query(current_actor(), sampled_id, json_body().get("answer"))
    return ok({"id": found.id, "answer": found.answer})


@endpoint("/log-review-hits/<hit_id>/decide", "POST", summary="自動点検の該当を指摘として確定（confirmed）か取下げ（dismissed）",
          request={"type": "object", "required": ["decision"], "properties": {
              "decision": {"type": "string", "enum": list(services.HIT_DECISIONS)}, "reason": {"type": "string"},
              "severity": {"type": "string", "enum": ["low", "medium", "high"]},
              "due_on": {"type": "string", "format": "date"}}},
          response=record({"id": INTEGER, "status": STRING, "finding": nullable(INTEGER)}),
          errors=(400, 403, 404, 409, 422))
def log_review_hit_decide(hit_id):
    body = json_body()
    hit = services.decide_hit(current_actor(), hit_id, body.get("decision"), body.get("reason"),
                              body.get("severity", "medium"), body.get("due_on"))
    return ok({"id": hit.id, "status": hit.status, "finding": hit.finding_id})


@endpoint("/log-review-raises", "POST", summary="所属のアクセスログ検証の抽出件数を引き上げる（監査担当）",
          request={"type": "object", "required": ["department", "reason"], "properties": {
              "department": {"type": "string"}, "reason": {"type": "string"}}},
          response=record({"id": INTEGER, "department": STRING}), status=201, errors=(400, 403, 409, 422))
def log_review_raise():
    body = json_body()
    raised = services.raise_sampling(current_actor(), body.get("department"), body.get("reason"))
    return ok({"id": raised.id, "department": raised.department.code}, 201)


@endpoint("/log-reviews/lookbacks", "POST",
          summary="確定した不正の該当をきっかけに、同じ操作者か端末の以前の期間を遡って検証する（監査担当）",
          request={"type": "object", "required": ["hit", "date_from", "date_to", "reason"], "properties": {
              "hit": {"type": "integer", "description": "指摘として確定した自動点検の該当"},
              "operator": {"type": "string"}, "terminal": {"type": "string"},
              "date_from": {"type": "string", "format": "date"}, "date_to": {"type": "string", "format": "date"},
              "reason": {"type": "string"}}},
          response=REVIEW_SCHEMA, status=201, errors=(400, 403, 409, 422))
def log_review_lookback():
    return ok(_review_json(services.open_lookback(current_actor(), json_body())), 201)
