"""Findings (指摘事項) and the yearly self-inspection (自己点検) over the API (docs/api.md)."""
from __future__ import annotations

from flask import request

from ..findings import services
from ..selfinspection import services as selfinspection
from ..states import State
from ..web import current_actor
from . import BOOLEAN, DATE, DATE_TIME, INTEGER, STRING, endpoint, json_body, nullable, ok, record

SOURCE = {"type": "string", "enum": list(services.SOURCES)}
SEVERITY = {"type": "string", "enum": list(services.SEVERITIES)}
REF_KIND = {"type": "string", "enum": list(services.REF_KINDS)}
STATUS = {"type": "string", "enum": [State.RECORDED.value, State.PLANNED.value, State.ACTION_REPORTED.value,
                                     State.RESOLVED.value]}
FILE = record({"id": INTEGER, "file_name": STRING, "sha256": STRING, "size": INTEGER})
FILE_PART = {"type": "string", "format": "binary", "description": "証拠のPDF（20 MB まで）"}

FINDING_SCHEMA = record({
    "id": INTEGER, "status": STATUS, "source": SOURCE, "audit": STRING, "fiscal_year": INTEGER,
    "department": STRING, "summary": STRING, "severity": SEVERITY, "due_on": DATE, "overdue": BOOLEAN,
    "refs": {"type": "array", "items": record({"kind": REF_KIND, "ref": STRING})},
    "raised_by": STRING, "raised_at": DATE_TIME, "plan": nullable(STRING), "planned_by": nullable(STRING),
    "action": nullable(STRING), "reported_by": nullable(STRING), "evidence": {"type": "array", "items": FILE},
    "confirmed_by": nullable(STRING), "confirmation": nullable(STRING), "sent_back": INTEGER,
})

RAISE_SCHEMA = {"type": "object", "required": ["source", "department", "summary", "severity", "due_on"],
                "properties": {
                    "source": SOURCE, "department": {"type": "string", "description": "所属コード"},
                    "summary": {"type": "string"}, "severity": SEVERITY,
                    "due_on": {"type": "string", "format": "date"},
                    "audit": {"type": "string", "description": "監査の名称（省略時は年度と出所から）"},
                    "refs": {"type": "array", "items": {"type": "object", "required": ["kind", "ref"], "properties": {
                        "kind": REF_KIND, "ref": {"type": "string"}}}}}}

ANSWER = {"type": "string", "enum": list(selfinspection.ANSWERS)}
INSPECTION_SCHEMA = record({
    "id": INTEGER, "department": STRING, "fiscal_year": INTEGER,
    "status": {"type": "string", "enum": [State.ANSWERING.value, State.FILED.value]},
    "answers": {"type": "array", "items": record({
        "id": INTEGER, "item": INTEGER, "theme": STRING, "question": STRING, "answer": ANSWER,
        "note": nullable(STRING), "evidence": nullable(record({"file_name": STRING, "sha256": STRING})),
        "finding": nullable(INTEGER), "sampled": BOOLEAN, "supported": nullable(BOOLEAN),
        "sample_finding": nullable(INTEGER)})},
    "unanswered": {"type": "array", "items": INTEGER},
})


def _json(finding):
    return services.finding_json(finding)


def _upload():
    upload = request.files.get("file")
    return (upload.stream, upload.filename) if upload and upload.filename else None


@endpoint("/findings", "POST", summary="指摘事項を記録する（監査担当・セキュリティ管理者・システム管理者）",
          request=RAISE_SCHEMA, response=FINDING_SCHEMA, status=201, errors=(400, 403, 422))
def finding_raise():
    data = json_body()
    finding = services.raise_finding(current_actor(), source=data.get("source"),
                                     department_code=data.get("department"), summary=data.get("summary"),
                                     severity=data.get("severity"), due_on=data.get("due_on"),
                                     refs=data.get("refs"), audit=data.get("audit"))
    return ok(_json(finding), 201)


@endpoint("/findings", summary="指摘事項の一覧（未完了・期限超過・完了）",
          query={"view": {"type": "string", "enum": list(services.LIST_VIEWS)},
                 "department": STRING, "audit": STRING, "fiscal_year": INTEGER},
          response=record({"findings": {"type": "array", "items": FINDING_SCHEMA}}), errors=(403, 422))
def finding_list():
    actor = current_actor()
    rows = services.list_findings(actor, services.parse_filter(request.args))
    return ok({"findings": [_json(f) for f in rows]})


@endpoint("/findings/<finding_id>", summary="指摘事項", response=FINDING_SCHEMA, errors=(403, 404))
def finding_get(finding_id):
    return ok(_json(services.get_visible_finding(current_actor(), finding_id)))


@endpoint("/findings/<finding_id>/plan", "POST", summary="改善計画を提出する（所属のセキュリティ管理者）",
          request={"type": "object", "required": ["plan"], "properties": {"plan": {"type": "string"}}},
          response=FINDING_SCHEMA, errors=(400, 403, 404, 409, 422))
def finding_plan(finding_id):
    return ok(_json(services.submit_plan(current_actor(), finding_id, json_body())))


@endpoint("/findings/<finding_id>/action", "POST", summary="措置の完了を証拠のPDFとともに報告する",
          request={"type": "object", "required": ["action"], "properties": {
              "action": {"type": "string"}, "file": FILE_PART}},
          multipart=True, response=FINDING_SCHEMA, errors=(403, 404, 409, 413, 422))
def finding_action(finding_id):
    upload = _upload()
    finding = services.report_action(current_actor(), finding_id, request.form.to_dict(), [upload] if upload else [])
    return ok(_json(finding))


@endpoint("/findings/<finding_id>/confirm", "POST",
          summary="現地確認により完了とする（回答した者以外のセキュリティ管理者）",
          request={"type": "object", "required": ["note"], "properties": {"note": {"type": "string"}}},
          response=FINDING_SCHEMA, errors=(400, 403, 404, 409, 422))
def finding_confirm(finding_id):
    return ok(_json(services.confirm_on_site(current_actor(), finding_id, json_body())))


@endpoint("/findings/<finding_id>/send-back", "POST", summary="現地確認の結果、差し戻す",
          request={"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}},
          response=FINDING_SCHEMA, errors=(400, 403, 404, 409, 422))
def finding_send_back(finding_id):
    return ok(_json(services.send_back(current_actor(), finding_id, json_body())))


@endpoint("/self-inspections", "POST", summary="自己点検を開始する（所属・年度ごとに1件。既にあればそれを返す）",
          request={"type": "object", "properties": {
              "department": {"type": "string", "description": "所属コード（省略時は自分の所属）"},
              "fiscal_year": {"type": "integer"}}},
          response=INSPECTION_SCHEMA, status=201, errors=(400, 403, 422))
def self_inspection_open():
    data = json_body()
    inspection = selfinspection.open_inspection(current_actor(), data.get("department"), data.get("fiscal_year"))
    return ok(selfinspection.inspection_json(inspection), 201)


@endpoint("/self-inspections/<inspection_id>", summary="自己点検（回答の一覧）", response=INSPECTION_SCHEMA,
          errors=(403, 404))
def self_inspection_get(inspection_id):
    inspection = selfinspection.get_visible_inspection(current_actor(), inspection_id)
    return ok(selfinspection.inspection_json(inspection))


@endpoint("/self-inspections/<inspection_id>/items/<item_id>", "POST",
          summary="点検項目に回答する（はい・いいえ・該当なし。証拠が必要な項目はPDFを添付）",
          request={"type": "object", "required": ["answer"], "properties": {
              "answer": ANSWER, "note": {"type": "string"}, "file": FILE_PART}},
          multipart=True, response=INSPECTION_SCHEMA, errors=(403, 404, 409, 413, 422))
def self_inspection_answer(inspection_id, item_id):
    actor = current_actor()
    selfinspection.answer_item(actor, inspection_id, item_id, request.form.to_dict(), _upload())
    return ok(selfinspection.inspection_json(selfinspection.get_inspection(inspection_id)))


@endpoint("/self-inspections/<inspection_id>/file", "POST",
          summary="自己点検を提出する（「いいえ」の項目は指摘事項になる）",
          response=INSPECTION_SCHEMA, errors=(403, 404, 409, 422))
def self_inspection_file(inspection_id):
    return ok(selfinspection.inspection_json(selfinspection.file_inspection(current_actor(), inspection_id)))


@endpoint("/self-inspection-answers/<answer_id>/sample", "POST",
          summary="回答を抽出して証拠と照らす（監査担当。裏付けなしは指摘事項になる）",
          request={"type": "object", "required": ["supported"], "properties": {
              "supported": {"type": "boolean"}, "note": {"type": "string"}}},
          response=INSPECTION_SCHEMA, errors=(400, 403, 404, 409, 422))
def self_inspection_sample(answer_id):
    row = selfinspection.sample_answer(current_actor(), answer_id, json_body())
    return ok(selfinspection.inspection_json(selfinspection.get_inspection(row.inspection_id)))
