"""Several people pressing at the same moment: the serialised write transaction lets exactly one
through, on SQLite and on PostgreSQL alike (LIFECYCLE_TEST_DB picks the backend)."""
import threading

from lifecycle.audit.services import events_for, verify_chain
from lifecycle.auth.services import get_user
from lifecycle.custody import services
from lifecycle.errors import DomainError
from lifecycle.extensions import db
from lifecycle.items.services import get_item
from tests import factories


def _race(app, calls):
    """Runs each (login, function, args) in its own thread and app context, all released at once."""
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def run(index, login, func, args):
        with app.app_context():
            actor = get_user(login)
            db.session.rollback()  # no read snapshot held while waiting at the barrier
            barrier.wait()
            try:
                func(actor, *args)
                outcomes[index] = "ok"
            except DomainError as exc:
                outcomes[index] = exc.status
            except Exception as exc:  # pragma: no cover - would be the bug this test looks for
                outcomes[index] = repr(exc)

    threads = [threading.Thread(target=run, args=(i, *call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def test_four_accepts_at_once_exactly_one_succeeds(app, world):
    item = factories.form(world["registrar"])
    transfer = services.request_transfer(world["registrar"], item.code, "registrar2")
    outcomes = _race(app, [("registrar2", services.accept_transfer, (transfer.id,))] * 4)
    assert sorted(outcomes, key=str) == [409, 409, 409, "ok"]
    db.session.expire_all()  # this thread's identity map predates the race
    assert [e.type for e in events_for(item.code)].count("custody:accepted") == 1
    assert get_item(item.code).holder.login == "registrar2"
    assert verify_chain().ok


def test_accept_reject_and_cancel_racing_leave_one_outcome(app, world):
    item = factories.form(world["registrar"])
    transfer = services.request_transfer(world["registrar"], item.code, "registrar2")
    outcomes = _race(app, [("registrar2", services.accept_transfer, (transfer.id,)),
                           ("registrar2", services.reject_transfer, (transfer.id, "担当外のため")),
                           ("registrar", services.cancel_transfer, (transfer.id,)),
                           ("registrar2", services.accept_transfer, (transfer.id,))])
    assert outcomes.count("ok") == 1 and outcomes.count(409) == 3
    db.session.expire_all()
    resolved = [e.type for e in events_for(item.code)][2:]
    assert len(resolved) == 1
    assert get_item(item.code).status == "in_custody"


def test_two_hand_offs_of_one_item_at_once(app, world):
    item = factories.form(world["registrar"])
    outcomes = _race(app, [("registrar", services.request_transfer, (item.code, "registrar2")),
                           ("registrar", services.request_transfer, (item.code, "security2")),
                           ("registrar", services.request_transfer, (item.code, "bulk"))])
    assert sorted(outcomes, key=str) == [409, 409, "ok"]
    db.session.expire_all()
    assert len(services.outgoing_transfers(get_user("registrar"))) == 1
