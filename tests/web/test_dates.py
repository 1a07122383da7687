"""Dates from query strings and the command line: one accepted range (validation.a_date), and a
day outside it is a 422 with a Japanese message on every page and API call, never a 500."""
from __future__ import annotations

import pytest

from tests.factories import device, form

OUT_OF_RANGE = ("0001-01-01", "1800-01-01", "1899-12-31", "3000-01-01", "9999-12-31")
MESSAGE = "1900年から2999年までの日付"

PAGES = (
    "/items?kind=form&from={day}", "/items?kind=form&to={day}", "/items?kind=form&overdue=true&as_of={day}",
    "/audit/?from={day}", "/audit/?to={day}",
    "/reports/ledger.pdf?kind=form&from={day}", "/reports/ledger.csv?kind=form&to={day}",
    "/reports/exceptions?as_of={day}", "/reports/exceptions.pdf?as_of={day}",
    "/devices?as_of={day}",
)
API = (
    "/api/v1/items?from={day}", "/api/v1/items?to={day}", "/api/v1/items?overdue=true&as_of={day}",
    "/api/v1/reports/exceptions?as_of={day}",
)


@pytest.fixture
def dated_world(world):
    """Rows for the queries to compute over: a form and a leased device."""
    form(world["registrar"])
    device(world["admin"])
    return world


@pytest.mark.parametrize("day", OUT_OF_RANGE)
@pytest.mark.parametrize("page", PAGES)
def test_a_page_refuses_a_day_out_of_range_with_422(client, login, dated_world, page, day):
    login("auditor")
    response = client.get(page.format(day=day))
    body = response.get_data(as_text=True)
    assert response.status_code == 422, body[:300]
    assert response.mimetype == "text/html" and MESSAGE in body


@pytest.mark.parametrize("day", OUT_OF_RANGE)
@pytest.mark.parametrize("path", API)
def test_the_api_refuses_a_day_out_of_range_with_the_error_json(api, dated_world, path, day):
    response = api("auditor").get(path.format(day=day))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "date_out_of_range" and MESSAGE in error["message"]


@pytest.mark.parametrize("day", ("1900-01-01", "2999-12-31"))
def test_the_first_and_last_day_of_the_range_are_answered(client, login, api, dated_world, day):
    login("auditor")
    for page in PAGES:
        response = client.get(page.format(day=day))
        assert response.status_code == 200, (page, response.get_data(as_text=True)[:300])
    for path in API:
        assert api("auditor").get(path.format(day=day)).status_code == 200, path


@pytest.mark.parametrize("args", [
    ["exceptions", "scan", "--as-of", "0001-01-01"],
    ["purge", "--as-of", "0001-01-01T00:00:00+14:00"],
    ["purge", "--as-of", "9999-12-31T23:59:59-12:00"],
    ["users", "create", "someone", "--name", "名前", "--department", "zeimu", "--trained-on", "1800-01-01"],
])
def test_the_command_line_refuses_a_day_out_of_range_in_one_line(runner, world, args):
    result = runner.invoke(args=args)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)  # click's usage error
    assert MESSAGE in result.output
