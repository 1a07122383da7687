"""Links and redirects: web.safe_next keeps every redirect on this site; links carry the script root."""
from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifecycle.web import safe_next

DEFAULT = "/items"


@pytest.mark.parametrize("target", [
    "//evil.example", "/\t/evil.example", "/\\evil.example", "\\evil.example", "https://evil.example/",
    "/\r\nSet-Cookie: x=1", "/items\nX: y", "javascript:alert(1)", "", None, "items", "/\x00",
])
def test_a_target_that_could_leave_the_site_gives_the_default(target):
    assert safe_next(target, DEFAULT) == DEFAULT


@pytest.mark.parametrize("target", ["/", "/items?kind=medium", "/items/F-2026-000001#timeline", "/custody"])
def test_a_plain_path_on_this_site_is_kept(target):
    assert safe_next(target, DEFAULT) == target


@given(st.text(max_size=40))
def test_whatever_is_given_the_redirect_stays_on_this_site(target):
    """What a browser makes of the result, resolved against this site, is on this site."""
    result = safe_next(target, DEFAULT)
    cleaned = "".join(ch for ch in result if ch not in "\t\r\n").replace("\\", "/")
    assert urlsplit(urljoin("http://lifecycle.test/", cleaned)).netloc == "lifecycle.test"


def test_a_hand_off_with_a_crlf_next_is_saved_and_redirects_home(client, login, world):
    """A next with CR/LF is not a 500 after the hand-off was saved: it redirects to the item."""
    from tests.factories import form

    item = form(world["registrar"])
    login("registrar")
    response = client.post(f"/custody/items/{item.code}/transfer",
                           data={"to": "registrar2", "note": "", "next": "/\r\nLocation: //evil.example"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/items/{item.code}")
    assert client.get(f"/items/{item.code}").get_data(as_text=True).count("引継ぎ中") >= 1


@pytest.mark.parametrize("prefix", ("", "/lifecycle"))
def test_the_page_frame_links_carry_the_script_root_each_request_arrives_under(client, login, prefix):
    """A proxy serving the app under a prefix and one serving it at the root, in turn, each get
    links under their own root."""
    login("registrar")
    for root in (prefix, "/other" if prefix else "/lifecycle", prefix):
        page = client.get("/", base_url=f"http://localhost{root}/").get_data(as_text=True)
        for link in (f'href="{root}/static/app.css"', f'src="{root}/static/app.js"', f'action="{root}/scan"',
                     f'action="{root}/logout"', f'<a href="{root}/">住基ネット'):
            assert link in page
