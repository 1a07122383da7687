"""What waits for the caller (docs/api.md, Me)."""
from ..notifications.tasks import KINDS, tasks_for
from ..web import current_actor
from . import STRING, endpoint, ok, record

TASKS_SCHEMA = record({"tasks": {"type": "array", "items": record({
    "kind": {"type": "string", "enum": list(KINDS)}, "summary": STRING, "url": STRING})}})


@endpoint("/me/tasks", summary="自分のやること（対応を待っているもの）の一覧", response=TASKS_SCHEMA, errors=(401,))
def my_tasks():
    return ok({"tasks": [task.to_json() for task in tasks_for(current_actor())]})
