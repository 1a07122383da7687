"""The auditor's desk as JSON: exceptions as of a date and the fiscal year's statistics, for
scripts that assemble the council's report. Reads only; nothing here is recorded as a report
because nothing here is a file that leaves the system (the PDF and CSV routes are)."""
from flask import request

from ..reports import queries, statistics
from ..web import current_actor
from . import endpoint, ok
from .. import fiscal
from ..auth.services import parse_department

EXCEPTIONS_SCHEMA = {"type": "object", "properties": {
    "as_of": {"type": "string", "format": "date"},
    "categories": {"type": "object", "additionalProperties": {"type": "string"}},
    "totals": {"type": "object", "additionalProperties": {"type": "integer"}},
    "total": {"type": "integer"},
    "departments": {"type": "array", "items": {"type": "object", "properties": {
        "code": {"type": "string", "nullable": True}, "name": {"type": "string"},
        "total": {"type": "integer"},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "items": {"type": "array", "items": {"type": "object", "properties": {
            "category": {"type": "string"}, "code": {"type": "string", "nullable": True},
            "title": {"type": "string"}, "detail": {"type": "string"}}}}}}}},
    "required": ["as_of", "totals", "departments"]}

STATISTICS_SCHEMA = {"type": "object", "properties": {
    "fiscal_year": {"type": "integer"}, "label": {"type": "string"},
    "department": {"type": "string", "nullable": True},
    "metrics": {"type": "array", "items": {"type": "object", "properties": {
        "key": {"type": "string"}, "label": {"type": "string"}}}},
    "months": {"type": "array", "items": {"type": "string"}},
    "totals": {"type": "object", "additionalProperties": {"type": "integer"}},
    "rows": {"type": "array", "items": {"type": "object", "properties": {
        "month": {"type": "string"}, "department": {"type": "string"},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}}}}}},
    "required": ["fiscal_year", "months", "rows"]}


@endpoint("/reports/exceptions", summary="例外一覧（所属別、基準日現在）（監査担当・セキュリティ管理者・システム管理者）",
          response=EXCEPTIONS_SCHEMA, errors=(401, 403, 422),
          query={"as_of": {"type": "string", "format": "date", "description": "基準日（省略時: 今日）"}})
def reports_exceptions():
    queries.require_desk(current_actor())
    as_of = queries.parse_as_of(request.args.get("as_of"))
    return ok(queries.compute_findings(as_of, limit=None).to_json())


@endpoint("/reports/statistics", summary="審議会報告用の統計（年度の月別・所属別件数）",
          response=STATISTICS_SCHEMA, errors=(401, 403, 422),
          query={"year": {"type": "integer", "description": "年度（西暦、4月始まり。省略時: 今年度）"},
                 "department": {"type": "string", "description": "所属コード"}})
def reports_statistics():
    queries.require_desk(current_actor())
    year = fiscal.parse_year(request.args.get("year"))
    department = parse_department(request.args.get("department"))
    return ok(statistics.compute_statistics(year, department).to_json())
