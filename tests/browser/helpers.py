"""Steps several browser tests share."""
import re


def register_form(page, base: str, title: str) -> str:
    """Registers a 帳票 through the real form and returns its code."""
    page.goto(base + "/items/new?kind=form")
    page.fill("#title", title)
    page.select_option("#business", "car-tax")
    page.fill("#sheets", "2")
    page.click("form.form-grid button[type=submit]")
    page.wait_for_url(re.compile(r"/items/F-\d{4}-\d{6}$"))
    return page.url.rsplit("/", 1)[-1]
