"""The register form's fields as the service takes them (validation itself is the service's)."""
from __future__ import annotations


def contractor_data(form) -> dict:
    """A flat HTML form (name, services[], number, start, end, clauses[]) as register_contractor's dict."""
    return {"name": form.get("name"), "services": form.getlist("services"),
            "contract": {"number": form.get("number"), "start": form.get("start"), "end": form.get("end"),
                         "clauses": form.getlist("clauses")}}
