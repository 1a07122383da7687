"""The contractor register over the API (docs/api.md, Contractors)."""
from flask import request

from ..contractors import services
from ..web import current_actor
from . import DATE, INTEGER, STRING, endpoint, json_body, nullable, ok, record

SERVICE = {"type": "string", "enum": list(services.SERVICES)}
CLAUSE = {"type": "string", "enum": list(services.CLAUSES)}
FILE = nullable(record({"id": INTEGER, "file_name": STRING, "sha256": STRING, "size": INTEGER}))

INSPECTION_SCHEMA = record({"id": INTEGER, "on": DATE, "by": STRING, "observed": nullable(STRING),
                            "findings": nullable(STRING), "follow_up": nullable(STRING),
                            "recorded_by": STRING})

CONTRACTOR_SCHEMA = record({
    "id": INTEGER, "name": STRING, "services": {"type": "array", "items": SERVICE},
    "contracts": {"type": "array", "items": record({
        "id": INTEGER, "number": STRING, "start": DATE, "end": DATE,
        "clauses": {"type": "array", "items": CLAUSE}, "missing_clauses": {"type": "array", "items": CLAUSE},
        "file": FILE})},
    "current_contract": nullable(INTEGER),
    "pledges": {"type": "array", "items": record({"fiscal_year": INTEGER, "received_on": DATE,
                                                  "signatories": nullable(STRING), "file": FILE})},
    "subcontractors": {"type": "array", "items": record({
        "name": STRING, "services": {"type": "array", "items": SERVICE}, "approved_on": DATE,
        "approved_by": STRING, "note": nullable(STRING)})},
    "inspections": {"type": "array", "items": INSPECTION_SCHEMA},
    "exceptions": {"type": "array", "items": record({"rule": STRING, "detail": STRING})},
})

CONTRACT_REQUEST = {"type": "object", "required": ["number", "start", "end"], "properties": {
    "number": {"type": "string"}, "start": {"type": "string", "format": "date"},
    "end": {"type": "string", "format": "date"}, "clauses": {"type": "array", "items": CLAUSE}}}

REGISTER_SCHEMA = {"type": "object", "required": ["name", "services", "contract"], "properties": {
    "name": {"type": "string"}, "services": {"type": "array", "items": SERVICE}, "contract": CONTRACT_REQUEST}}

FILE_PART = {"type": "string", "format": "binary", "description": "PDF（20 MB まで）"}


def _upload():
    upload = request.files.get("file")
    return (upload.stream, upload.filename) if upload and upload.filename else None


@endpoint("/contractors", "POST", summary="委託先を登録する（契約と条項を含む）", request=REGISTER_SCHEMA,
          response=record({"id": INTEGER}), status=201, errors=(400, 403, 409, 422))
def contractor_register():
    contractor = services.register_contractor(current_actor(), json_body())
    return ok({"id": contractor.id}, 201)


@endpoint("/contractors", summary="委託先の一覧",
          response=record({"contractors": {"type": "array", "items": CONTRACTOR_SCHEMA}}), errors=(403,))
def contractor_list():
    actor = current_actor()
    return ok({"contractors": [services.contractor_json(c) for c in services.list_contractors(actor)]})


@endpoint("/contractors/<contractor_id>", summary="委託先（契約・誓約書・再委託先・実地確認）",
          response=CONTRACTOR_SCHEMA, errors=(403, 404))
def contractor_get(contractor_id):
    return ok(services.contractor_json(services.get_visible_contractor(current_actor(), contractor_id)))


@endpoint("/contractors/<contractor_id>/contracts", "POST", summary="委託契約（更新・変更）を登録する",
          request={"type": "object", "required": ["number", "start", "end"], "properties": {
              "number": {"type": "string"}, "start": {"type": "string", "format": "date"},
              "end": {"type": "string", "format": "date"},
              "clauses": {"type": "string", "description": "条項のキーをカンマ区切りで"}, "file": FILE_PART}},
          multipart=True, response=CONTRACTOR_SCHEMA, status=201, errors=(403, 404, 413, 422))
def contractor_contract(contractor_id):
    contract = services.add_contract(current_actor(), contractor_id, request.form.to_dict(), _upload())
    return ok(services.contractor_json(contract.contractor), 201)


@endpoint("/contractors/<contractor_id>/pledges", "POST", summary="従事者の誓約書の受領を記録する（年度ごと）",
          request={"type": "object", "required": ["received_on"], "properties": {
              "received_on": {"type": "string", "format": "date"}, "fiscal_year": {"type": "integer"},
              "signatories": {"type": "string"}, "file": FILE_PART}},
          multipart=True, response=CONTRACTOR_SCHEMA, status=201, errors=(403, 404, 409, 413, 422))
def contractor_pledge(contractor_id):
    services.record_pledge(current_actor(), contractor_id, request.form.to_dict(), _upload())
    return ok(services.contractor_json(services.get_contractor(contractor_id)), 201)


@endpoint("/contractors/<contractor_id>/subcontractors", "POST", summary="再委託先を承認する（事前承認）",
          request={"type": "object", "required": ["name", "services", "approved_on"], "properties": {
              "name": {"type": "string"}, "services": {"type": "array", "items": SERVICE},
              "approved_on": {"type": "string", "format": "date"}, "note": {"type": "string"}}},
          response=CONTRACTOR_SCHEMA, status=201, errors=(400, 403, 404, 422))
def contractor_subcontractor(contractor_id):
    services.approve_subcontractor(current_actor(), contractor_id, json_body())
    return ok(services.contractor_json(services.get_contractor(contractor_id)), 201)


@endpoint("/contractors/<contractor_id>/inspections", "POST", summary="実地確認を記録する",
          request={"type": "object", "required": ["on", "by"], "properties": {
              "on": {"type": "string", "format": "date"}, "by": {"type": "string"},
              "observed": {"type": "string"}, "findings": {"type": "string"}, "follow_up": {"type": "string"}}},
          response=INSPECTION_SCHEMA, status=201, errors=(400, 403, 404, 422))
def contractor_inspection(contractor_id):
    inspection = services.record_inspection(current_actor(), contractor_id, json_body())
    return ok(services.inspection_json(inspection), 201)
