"""JSON responses through orjson.

orjson encodes an item with its events much faster than the standard library. The output is the same JSON:
keys in insertion order, non-ASCII as UTF-8, compact. Dates and datetimes still go through
Flask's default (which the API never relies on: its timestamps are strings already), and a value
orjson refuses (an integer beyond 64 bits) falls back to the standard encoder. Request bodies are
still parsed by the standard library, whose rules the API's 400/422 answers are written against.
"""
from __future__ import annotations

import orjson
from flask.json.provider import DefaultJSONProvider

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class OrjsonProvider(DefaultJSONProvider):
    ensure_ascii = False
    sort_keys = False

    def _encode(self, obj) -> bytes:
        try:
            return orjson.dumps(obj, default=self.default, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return super().dumps(obj).encode()

    def dumps(self, obj, **kwargs) -> str:
        if kwargs:  # a caller asking for indent or sort order gets the standard encoder
            return super().dumps(obj, **kwargs)
        return self._encode(obj).decode()

    def response(self, *args, **kwargs):
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(self._encode(obj) + b"\n", mimetype=self.mimetype)


def loads_event_data(text: str | None):
    """An audit event's stored canonical JSON as a value, or {} if it is not JSON (a tampered row
    must not break the page that shows it; the chain verification names it)."""
    try:
        return orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        return {}
