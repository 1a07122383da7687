"""JSON null only where the OpenAPI document declares a field nullable: `{"note": null}` for a
documented string is a 422, not a note left out (issue 26). The fields come from the document."""
import re

from lifecycle.audit.services import head
from lifecycle.extensions import db


def test_null_is_refused_for_every_field_the_document_does_not_make_nullable(client, api):
    document = client.get("/api/v1/openapi.json").get_json()
    caller = api("admin")
    db.session.rollback()
    before = head()
    tried = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema", {})
            for name, prop in schema.get("properties", {}).items():
                if prop.get("nullable"):
                    continue
                url = re.sub(r"\{\w+\}", "1", path)
                response = getattr(caller, method)(url, json={name: None})
                assert response.status_code == 422, (method, path, name, response.get_json())
                error = response.get_json()["error"]
                assert error["code"] == "null_not_allowed" and f"「{name}」に null は指定できません" in error["message"]
                tried += 1
    assert tried > 20
    db.session.rollback()
    assert head() == before
