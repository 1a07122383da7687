"""web.shaped_url: the item page's and the ledger's links, built from a kept shape."""
import pytest
from flask import url_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle.web import shaped_url

ROOTS = ("http://localhost/", "http://localhost/lifecycle/")
LINKS = (("items.show", "code"), ("labels.label", "code"), ("custody.report_pdf", "code"),
         ("destruction.index", "codes"), ("items.ledger", "kind"))


@pytest.mark.parametrize("base", ROOTS)
@pytest.mark.parametrize("endpoint, name", LINKS)
def test_a_shaped_link_is_the_link_url_for_builds(app, base, endpoint, name):
    with app.test_request_context("/", base_url=base):
        for value in ("F-2026-000001", "M-2026-000005", "medium", "F-2026-000001"):
            assert shaped_url(endpoint, **{name: value}) == url_for(endpoint, **{name: value})


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(st.text(max_size=30), st.integers(min_value=1, max_value=10**9)),
       base=st.sampled_from(ROOTS), link=st.sampled_from(LINKS))
def test_any_value_gives_the_same_link_as_url_for(app, value, base, link):
    """Quoting, slashes, markers in the value itself and numbers all end up as url_for has them."""
    endpoint, name = link
    with app.test_request_context("/", base_url=base):
        assert shaped_url(endpoint, **{name: value}) == url_for(endpoint, **{name: value})
        assert shaped_url(endpoint, **{name: "LCMARKcodeLCMARK"}) == url_for(endpoint, **{name: "LCMARKcodeLCMARK"})


def test_an_id_in_a_numeric_route_goes_to_url_for(app):
    with app.test_request_context("/"):
        assert shaped_url("destruction.batch", batch_id=7) == url_for("destruction.batch", batch_id=7)


@pytest.mark.parametrize("prefix", ("", "/lifecycle"))
def test_the_page_frame_links_carry_the_script_root_each_request_arrives_under(client, login, prefix):
    """The frame's links are kept per script root: a proxy serving the app under a prefix and
    one serving it at the root, in turn, each get their own."""
    login("registrar")
    for root in (prefix, "/other" if prefix else "/lifecycle", prefix):
        page = client.get("/", base_url=f"http://localhost{root}/").get_data(as_text=True)
        for link in (f'href="{root}/static/app.css"', f'src="{root}/static/app.js"', f'action="{root}/scan"',
                     f'action="{root}/logout"', f'<a href="{root}/">住基ネット'):
            assert link in page
