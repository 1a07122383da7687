from types import SimpleNamespace

import pytest

from lifecycle import states
from lifecycle.audit.events import EventType
from lifecycle.errors import InvalidTransition
from lifecycle.extensions import db
from lifecycle.states import TRANSITIONS, Kind, State
from lifecycle.actors import SystemActor

PAIRS = [(kind, frm, to) for kind, table in TRANSITIONS.items() for frm in table for to in table]


def _thing(kind, status):
    return SimpleNamespace(state_kind=kind, status=status.value, audit_subject="X-1")


@pytest.mark.parametrize("kind,frm,to", PAIRS, ids=[f"{k}:{f}->{t}" for k, f, t in PAIRS])
def test_every_pair_is_allowed_or_refused_as_the_table_says(app, kind, frm, to):
    thing = _thing(kind, frm)
    if to in TRANSITIONS[kind][frm]:
        with db.transaction():
            states.transition(thing, to, actor=SystemActor("system:test", "テスト"), event=EventType.ITEM_UPDATED)
        assert thing.status == to.value
    else:
        with pytest.raises(InvalidTransition) as refused:
            with db.transaction():
                states.transition(thing, to, actor=SystemActor("system:test", "テスト"), event=EventType.ITEM_UPDATED)
        assert thing.status == frm.value
        assert states.STATE_LABELS[frm] in refused.value.message
        assert refused.value.status == 409


def test_every_state_has_a_japanese_label_and_tables_are_closed():
    for kind, table in TRANSITIONS.items():
        assert states.INITIAL[kind] in table
        for frm, targets in table.items():
            assert frm in states.STATE_LABELS
            assert targets <= set(table), f"{kind}: {frm} leads outside the table"


def test_refusal_says_what_is_possible():
    message = states.refusal_message(Kind.MEDIUM, "M-2026-000001", State.PROVIDED, State.DESTROYED)
    assert "提供中" in message and "返却" in message


def test_spec_paths_exist():
    form = TRANSITIONS[Kind.FORM]
    assert State.IN_CUSTODY in form[State.REGISTERED]
    assert State.IN_TRANSFER in form[State.IN_CUSTODY] and State.IN_CUSTODY in form[State.IN_TRANSFER]
    assert State.DESTROYED in form[State.AWAITING_DESTRUCTION]
    medium = TRANSITIONS[Kind.MEDIUM]
    assert State.RETURNED in medium[State.PROVIDED] and State.AWAITING_DESTRUCTION in medium[State.RETURNED]
    device = TRANSITIONS[Kind.DEVICE]
    assert device[State.ERASURE_CERTIFIED] == {State.RETURNED_TO_LESSOR}
    assert State.RETURNED_TO_LESSOR not in device[State.ERASURE_REQUESTED]
