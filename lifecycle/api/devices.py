"""Leased devices over the API: erasure request, certificates, return to the lessor."""
from flask import request

from ..destruction.services import batch_json, storage_destruction_of
from ..devices import evidence, services
from ..devices.evidence import METHODS_USED
from ..items.schemas import item_json_of
from ..items.services import get_visible_item
from ..web import current_actor
from . import (
    DATE,
    DATE_TIME,
    INTEGER,
    STRING,
    endpoint,
    json_body,
    nullable,
    ok,
    optional_json_body,
    record,
)
from .destruction import BATCH_SCHEMA
from .items import ITEM_SCHEMA
from ..items import storage

CERT_SCHEMA = record({
    "id": INTEGER, "device": STRING, "status": {"type": "string", "enum": ["submitted", "accepted", "rejected"]},
    "status_label": STRING, "vendor": STRING, "certificate_no": STRING,
    "method": {"type": "string", "enum": ["clear", "purge", "destroy"]}, "tool": STRING,
    "tool_version": nullable(STRING), "verification": STRING, "verification_result": nullable(STRING),
    "performed_on": DATE, "operator": nullable(STRING), "media_type": nullable(STRING), "file_name": STRING,
    "sha256": STRING, "size": INTEGER, "uploaded_by": STRING, "uploaded_at": DATE_TIME,
    "decided_by": nullable(STRING), "decided_at": nullable(DATE_TIME), "reject_reason": nullable(STRING),
    "contractor": nullable(record({"id": INTEGER, "name": STRING})),
    "level": {"type": "string", "enum": ["clear", "purge", "destroy"]},
    "method_used": nullable({"type": "string", "enum": list(METHODS_USED)}),
    "performed_by": nullable(STRING), "performed_by_title": nullable(STRING),
    "performed_by_organisation": nullable(STRING), "destination": nullable(STRING),
    "media": {"type": "array", "items": STRING},
    "serials_missing_from_pdf": {"type": "array", "items": STRING},
    "serials_unknown_to_device": {"type": "array", "items": STRING}})

MEDIUM_SCHEMA = record({"media_type": STRING, "make": nullable(STRING), "model": nullable(STRING),
                        "serial": STRING, "capacity_gb": nullable(INTEGER)})

UPLOAD_SCHEMA = {"type": "object",
                 "required": ["file", "certificate_no", "tool", "verification", "performed_on"],
                 "properties": {
                     "file": {"type": "string", "format": "binary", "description": "PDF（20 MB まで）"},
                     "vendor": {"type": "string"}, "certificate_no": {"type": "string"},
                     "method": {"type": "string", "enum": ["clear", "purge", "destroy"],
                                "description": "NIST SP 800-88。初期化・工場出荷時リセットは不可"},
                     "tool": {"type": "string"}, "tool_version": {"type": "string"},
                     "verification": {"type": "string"}, "verification_result": {"type": "string"},
                     "performed_on": {"type": "string", "format": "date"},
                     "operator": {"type": "string"}, "media_type": {"type": "string"},
                     "contractor": {"type": "integer", "description": "消去を行った委託先の id（省略時は vendor と同名の委託先）"},
                     "level": {"type": "string", "enum": ["clear", "purge", "destroy"],
                               "description": "NIST SP 800-88 の消去レベル（method と同じ。どちらか一方）"},
                     "method_used": {"type": "string", "enum": list(METHODS_USED)},
                     "media": {"type": "string", "description": "対象の記憶装置のシリアル番号（JSON の配列）。省略時は機器のすべて"},
                     "performed_by": {"type": "string"}, "performed_by_title": {"type": "string"},
                     "performed_by_organisation": {"type": "string"}, "destination": {"type": "string"}}}


@endpoint("/items/<code>/erasure-request", "POST", summary="リース機器のデータ消去を依頼する（満了・更新）",
          request={"type": "object", "properties": {
              "reason": {"type": "string", "enum": ["lease_end", "replacement", "failure"]},
              "note": {"type": "string"}}},
          response=ITEM_SCHEMA, errors=(400, 403, 404, 409, 422), body_optional=True)
def device_erasure_request(code):
    data = optional_json_body()
    item = services.request_erasure(current_actor(), code, data.get("reason"), data.get("note"))
    return ok(item_json_of(item.code))


@endpoint("/items/<code>/erasure-certificates", "POST", summary="業者の消去証明書（PDF と NIST SP 800-88 の項目）を登録する",
          request=UPLOAD_SCHEMA, multipart=True, response=CERT_SCHEMA, status=201,
          errors=(403, 404, 409, 413, 422))
def device_certificate_upload(code):
    upload = request.files.get("file")
    cert = services.submit_certificate(current_actor(), code, request.form.to_dict(),
                                       upload.stream if upload else None, upload.filename if upload else None)
    return ok(services.certificate_json(cert), 201)


@endpoint("/items/<code>/erasure-certificates", summary="機器の消去証明書の一覧",
          response=record({"certificates": {"type": "array", "items": CERT_SCHEMA},
                           "storage": {"type": "array", "items": MEDIUM_SCHEMA},
                           "minimum_level": {"type": "string", "enum": ["clear", "purge", "destroy"]},
                           "storage_destruction": nullable(BATCH_SCHEMA)}),
          errors=(403, 404))
def device_certificate_list(code):

    item = get_visible_item(current_actor(), code)
    return ok({"certificates": [services.certificate_json(c) for c in services.certificates_of(item)],
               "storage": [storage.medium_json(m) for m in storage.media_of(item)],
               "minimum_level": evidence.minimum_level(item),
               "storage_destruction": (batch_json(b) if (b := _storage(item)) else None)})


def _storage(item):
    return storage_destruction_of(item)


@endpoint("/erasure-certificates/<cert_id>", summary="消去証明書", response=CERT_SCHEMA, errors=(403, 404))
def erasure_certificate_get(cert_id):

    cert = services.get_certificate(cert_id)
    get_visible_item(current_actor(), cert.item.code)
    return ok(services.certificate_json(cert))


@endpoint("/erasure-certificates/<cert_id>/accept", "POST",
          summary="消去証明書を確認して受理する（登録者以外のセキュリティ管理者）",
          response=CERT_SCHEMA, errors=(403, 404, 409))
def erasure_certificate_accept(cert_id):
    return ok(services.certificate_json(services.accept_certificate(current_actor(), cert_id)))


@endpoint("/erasure-certificates/<cert_id>/reject", "POST", summary="消去証明書を差し戻す（理由が必要）",
          request={"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}},
          response=CERT_SCHEMA, errors=(400, 403, 404, 409, 422))
def erasure_certificate_reject(cert_id):
    data = json_body()
    return ok(services.certificate_json(services.reject_certificate(current_actor(), cert_id, data.get("reason"))))


@endpoint("/items/<code>/return-to-lessor", "POST", summary="リース会社へ返却する（消去証明済みの機器のみ）",
          request={"type": "object", "properties": {"contractor": {
              "type": "integer", "description": "返却先の委託先（リース会社）の id。省略時は機器のリース会社と同名の委託先"}}},
          response=ITEM_SCHEMA, errors=(400, 403, 404, 409, 422), body_optional=True)
def device_return_to_lessor(code):
    data = optional_json_body()
    item = services.return_to_lessor(current_actor(), code, data.get("contractor"))
    return ok(item_json_of(item.code))
