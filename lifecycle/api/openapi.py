import re

from . import ENDPOINTS, ERROR_SCHEMA, endpoint, ok
from ..web import HTTP_MESSAGES


def document() -> dict:
    paths: dict = {}
    for ep in ENDPOINTS:
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", ep.rule)
        params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in re.findall(r"<(?:\w+:)?(\w+)>", ep.rule)]
        # An empty query parameter is an absent one (`?kind=&status=`), never a 422.
        params += [{"name": name, "in": "query", "required": False, "allowEmptyValue": True, "schema": schema}
                   for name, schema in ep.query.items()]
        operation: dict = {
            "summary": ep.summary,
            "operationId": f"{ep.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}",
            "parameters": params,
            "responses": {str(ep.status): {
                "description": "成功",
                "content": {"application/json": {"schema": ep.response or {"type": "object"}}}}},
        }
        if not ep.public:
            operation["security"] = [{"bearer": []}]
        for status in sorted(set(ep.errors) | ({401} if not ep.public else set())):
            operation["responses"][str(status)] = {
                "description": HTTP_MESSAGES.get(status, ("", ""))[1],
                "content": {"application/json": {"schema": ERROR_SCHEMA}}}
        if ep.request is not None:
            content_type = "multipart/form-data" if ep.multipart else "application/json"
            operation["requestBody"] = {"required": not ep.body_optional,
                                        "content": {content_type: {"schema": ep.request}}}
        paths.setdefault("/api/v1" + path, {})[ep.method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": "lifecycle API", "version": "1",
                 "description": "帳票・一括利用媒体・リース機器の管理簿と個人番号一時保存の API"},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
    }


@endpoint("/openapi.json", summary="この API の OpenAPI 文書", public=True)
def openapi_json():
    return ok(document())
