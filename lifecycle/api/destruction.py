"""Destruction batches over the API (docs/api.md, Destruction)."""
from flask import request

from ..destruction import services
from ..web import current_actor
from . import BOOLEAN, DATE, DATE_TIME, INTEGER, STRING, endpoint, json_body, nullable, ok, record

BATCH_SCHEMA = record({
    "id": INTEGER, "code": STRING,
    "status": {"type": "string", "enum": ["awaiting_witness", "completed", "cancelled"]}, "status_label": STRING,
    "method": {"type": "string", "enum": ["shred", "pulp", "crush"]}, "method_label": STRING, "material": STRING,
    "din_level": STRING, "place": STRING, "planned_on": nullable(DATE), "created_by": STRING,
    "created_at": DATE_TIME, "witness": nullable(STRING), "witnessed_at": nullable(DATE_TIME),
    "cancelled_by": nullable(STRING), "cancelled_at": nullable(DATE_TIME), "cancel_reason": nullable(STRING),
    "items": {"type": "array", "items": record({"code": STRING, "kind": {"type": "string", "enum": ["form", "medium", "device"]},
                                                "title": STRING, "status": STRING})},
    "contractor": nullable(record({"id": INTEGER, "name": STRING})),
    "certificate_required": BOOLEAN, "certificate_missing": BOOLEAN,
    "certificate_accepted_at": nullable(DATE_TIME), "certificate_to_accept": BOOLEAN,
    "certificate": nullable(record({"id": INTEGER, "file_name": STRING, "sha256": STRING, "size": INTEGER,
                                    "uploaded_by": STRING, "uploaded_at": DATE_TIME}))})

CREATE_SCHEMA = {"type": "object", "required": ["items", "method", "place"], "properties": {
    "items": {"type": "array", "items": {"type": "string"}, "description": "管理番号"},
    "method": {"type": "string", "enum": ["shred", "pulp", "crush"]},
    "din_level": {"type": "string", "description": "DIN 66399（省略時: 紙 P-4、光ディスク O-4、MO O-4、記憶装置 T-4）"},
    "place": {"type": "string"},
    "contractor": {"type": "integer", "description": "実施する委託先の id（溶解では必須）。その日に契約が対象にしていること"},
    "planned_on": nullable({**DATE, "description": "予定日（null または省略: 未定）"})}}

FILE_SCHEMA = {"type": "object", "required": ["file"], "properties": {
    "file": {"type": "string", "format": "binary", "description": "PDF（20 MB まで）"}}}


@endpoint("/destructions", "POST", summary="廃棄（裁断・溶解・破砕）を申請する", request=CREATE_SCHEMA,
          response=BATCH_SCHEMA, status=201, errors=(400, 403, 409, 422))
def destruction_create():
    data = json_body()
    batch = services.create_batch(current_actor(), items=data.get("items"), method=data.get("method"),
                                  place=data.get("place"), din_level=data.get("din_level"),
                                  planned_on=data.get("planned_on"), contractor=data.get("contractor"))
    return ok(services.batch_json(batch), 201)


@endpoint("/destructions/<batch_id>", summary="廃棄の内容と状態", response=BATCH_SCHEMA, errors=(403, 404))
def destruction_get(batch_id):
    return ok(services.batch_json(services.get_visible_batch(current_actor(), batch_id)))


@endpoint("/destructions/<batch_id>/witness", "POST", summary="廃棄に立ち会う（申請者以外のセキュリティ管理者）",
          response=BATCH_SCHEMA, errors=(403, 404, 409))
def destruction_witness(batch_id):
    return ok(services.batch_json(services.witness_batch(current_actor(), batch_id)))


@endpoint("/destructions/<batch_id>/cancel", "POST", summary="立会い前の廃棄を取り消す（理由が必要）",
          request={"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}},
          response=BATCH_SCHEMA, errors=(400, 403, 404, 409, 422))
def destruction_cancel(batch_id):
    data = json_body()
    return ok(services.batch_json(services.cancel_batch(current_actor(), batch_id, data.get("reason"))))


@endpoint("/destructions/<batch_id>/certificate", "POST", summary="委託業者の証明書（PDF）を添付する（溶解）",
          request=FILE_SCHEMA, multipart=True, response=BATCH_SCHEMA, status=201,
          errors=(403, 404, 409, 413, 422))
def destruction_certificate(batch_id):
    upload = request.files.get("file")
    batch = services.attach_certificate(current_actor(), batch_id, upload.stream if upload else None,
                                        upload.filename if upload else None)
    return ok(services.batch_json(batch), 201)


@endpoint("/destructions/<batch_id>/certificate/accept", "POST",
          summary="溶解証明書を受理する（添付者以外のセキュリティ管理者）。対象はこの時点で廃棄済み",
          response=BATCH_SCHEMA, errors=(403, 404, 409))
def destruction_certificate_accept(batch_id):
    return ok(services.batch_json(services.accept_pulping_certificate(current_actor(), batch_id)))
