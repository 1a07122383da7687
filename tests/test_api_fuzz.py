"""Fuzzes every operation of the JSON API from its own OpenAPI document (schemathesis): whatever
a caller sends, the answer is never a server error and always what the document promises — a
documented status, the documented content type, a body that matches the documented schema.

Two passes over the same document, both in-process against one seeded app:
- random requests (schemathesis's fuzzing phase), once per operation for every role, so that each
  role's refusals and each role's successes are checked against the document;
- schemathesis's coverage phase (boundary values, wrong types, missing fields, methods the path
  does not have), once per operation, as a user who holds every role so that no role check stops
  the cases short of the validation they are made to reach.
"""
from __future__ import annotations

import io
import zlib
from dataclasses import dataclass, field

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from lifecycle.api import API_MODULES
from lifecycle.api import openapi as _openapi
from lifecycle.roles import Role
from tests import factories
from tests.conftest import running_app
from tests.unit.destruction.test_services import pdf_bytes
from tests.unit.devices.test_services import certificate_data
from lifecycle.actors import SystemActor

# create_app imports these too; the document is complete only once every route has registered.
for _name in ("audit", *API_MODULES):
    __import__(f"lifecycle.api.{_name}")

#: One demo user per role (tests/conftest.py `world`).
ROLES = ["registrar", "bulk", "security", "auditor", "admin"]
#: The coverage pass's user: every role at once, in 市町課 (the only department for bulk_operator).
EVERY_ROLE = "fuzz-every-role"
#: What the cases carry instead of a token. Schemathesis builds the coverage cases once, at
#: collection, before any token exists; the app shim below puts in the running role's token.
ROLE_TOKEN = "the-running-role"


@dataclass
class Target:
    """The app under test, the role of the running test and the rows seeded before the fuzz
    (by path parameter name), so that generated identifiers can be swapped for real ones."""
    app: object = None
    role: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    code: list[str] = field(default_factory=list)
    payload: list[str] = field(default_factory=list)
    transfer_id: list[str] = field(default_factory=list)
    batch_id: list[str] = field(default_factory=list)
    cert_id: list[str] = field(default_factory=list)
    copy_id: list[str] = field(default_factory=list)
    contractor_id: list[str] = field(default_factory=list)


TARGET = Target()


def _running_app(environ, start_response):
    if environ.get("HTTP_AUTHORIZATION") == f"Bearer {ROLE_TOKEN}":
        environ["HTTP_AUTHORIZATION"] = f"Bearer {TARGET.tokens[TARGET.role]}"
    return TARGET.app(environ, start_response)


def _config(*, coverage: bool) -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "phases": {
            "examples": {"enabled": coverage},
            "coverage": {
                "enabled": coverage,
                # A 405 comes from the URL map, the same for every route and method: two foreign
                # methods per path show it (with its Allow header) as well as all eight would.
                "unexpected-methods": ["delete", "trace"],
            },
            "fuzzing": {"enabled": not coverage},
        },
        # The bearer check is one before_request for the whole blueprint. Random Authorization
        # headers would spend a third of the examples on the same 401; the ignored_auth check
        # still repeats every successful call without a token and with a wrong one.
        "generation": {"with-security-parameters": False},
        "checks": {
            # docs/api.md's 422 is "valid JSON, invalid value": a schema-valid request is still refused
            # for what no JSON schema says (a 個人番号 check digit, a business code missing from
            # the master, a lease that ends before it starts); 409 when the row's state forbids
            # the step; 410 for a purged 個人番号 copy. Statuses beyond these still fail.
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "410", "422"]},
        },
    })


def _schema(*, coverage: bool):
    loaded = schemathesis.openapi.from_dict(_openapi.document(), config=_config(coverage=coverage))
    # Every request, including those the checks send on their own (the same call without a
    # token, say), goes in-process to the running test's app.
    loaded.app = _running_app

    @loaded.auth(refresh_interval=None)
    class RoleToken:
        """Auth through schemathesis rather than fixed headers, so that it knows which cases
        carry a token and which are meant to be refused without one."""

        def get(self, case, context):
            return ROLE_TOKEN

        def set(self, case, data, context):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return loaded


fuzzing = _schema(coverage=False)
coverage = _schema(coverage=True)


def _reach_real_rows(case) -> None:
    """Swaps a generated identifier for a seeded one in about half of the cases, so that the
    fuzz reaches what lies behind the 404s: transitions, their refusals, real rows serialised.
    The choice is a function of the case, so a failing case replays the same. (Schemathesis
    revalidates an edited case: a negative one that now names a real row counts as positive.)"""
    for name, value in (case.path_parameters or {}).items():
        known = getattr(TARGET, name, None)
        if not known or value in known:
            continue
        digest = zlib.crc32(repr((case.operation.label, value, case.query, case.body)).encode())
        if digest % 2:
            case.path_parameters[name] = known[digest // 2 % len(known)]


@pytest.fixture(scope="module")
def target(database, tmp_path_factory):
    """One app and database for the whole module, seeded with a few rows of every kind in the
    states the operations act on. The tests run in a fixed order with derandomised generation,
    so what one fuzzed call changes is the next one's (reproducible) starting point: a fresh
    database per operation and role would cost more than the fuzz itself."""
    from lifecycle.auth.services import create_user, get_user, issue_token
    from lifecycle.custody.services import provide_medium, request_transfer
    from lifecycle.destruction.services import create_batch
    from lifecycle.devices.services import request_erasure, submit_certificate
    from lifecycle.items.schemas import label_payload
    from lifecycle.mynumber.services import record_copy
    from lifecycle.seeds import ACTOR, TRAINED_ON, load_demo

    tmp = tmp_path_factory.mktemp("fuzz")
    with running_app(database(tmp), tmp / "instance") as app:
        load_demo()
        create_user(ACTOR, EVERY_ROLE, "全権 試験", "shicho", roles=[r.value for r in Role], trained_on=TRAINED_ON)
        registrar, bulk, admin = (get_user(login) for login in ("registrar", "bulk", "admin"))
        forms = [factories.form(registrar) for _ in range(4)]
        media = [factories.medium(bulk) for _ in range(2)]
        devices = [factories.device(admin) for _ in range(2)]
        TARGET.app = app
        TARGET.tokens = {login: issue_token(SystemActor("system:test", "テスト"), login) for login in (*ROLES, EVERY_ROLE)}
        TARGET.code = [item.code for item in forms + media + devices]
        TARGET.payload = [label_payload(code) for code in TARGET.code[:3]]
        TARGET.transfer_id = [str(request_transfer(registrar, forms[0].code, "registrar2").id),
                              str(request_transfer(bulk, media[0].code, "registrar").id)]
        provide_medium(bulk, media[1].code)
        TARGET.batch_id = [
            str(create_batch(registrar, items=[forms[1].code], method="shred", place="税務課 執務室").id),
            str(create_batch(registrar, items=[forms[2].code], method="pulp", place="溶解業者",
                                 contractor=factories.pulper()).id)]
        request_erasure(admin, devices[0].code, "lease_end")
        TARGET.contractor_id = [str(factories.pulper())]
        TARGET.cert_id = [str(submit_certificate(bulk, devices[0].code, certificate_data(),
                                                 io.BytesIO(pdf_bytes()), "erasure.pdf").id)]
        TARGET.copy_id = [str(record_copy(bulk, {"my_number": "123456789018", "provided_to": "〇〇市 市民課",
                                                 "reason": "附票本人確認情報の再送に備えて"}).id)]
        yield TARGET
    TARGET.__init__()


@pytest.fixture
def acting(target):
    """acting(login) makes the cases of the running test go out with that user's token."""
    def act(login: str) -> None:
        target.role = login

    yield act
    target.role = ""


# Derandomised and without an example database: CI and every developer run the same cases.
# No deadline: a request that writes the audit chain on PostgreSQL may take a while on a busy
# machine. Health checks: `acting` is function-scoped on purpose (it only names the caller, the
# same for every example); slow, filtered and large examples are what schemathesis makes.
BOUNDED = settings(deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                          HealthCheck.filter_too_much, HealthCheck.data_too_large])


@pytest.mark.parametrize("role", ROLES)
@fuzzing.parametrize()
@settings(BOUNDED, max_examples=15)
def test_random_requests_answer_as_documented(case, role, acting):
    acting(role)
    _reach_real_rows(case)
    case.call_and_validate()


@coverage.parametrize()
@BOUNDED
def test_boundary_requests_answer_as_documented(case, acting):
    acting(EVERY_ROLE)
    _reach_real_rows(case)
    case.call_and_validate()
