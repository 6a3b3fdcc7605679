"""The API docs (``/docs``: Swagger UI, ``/redoc``: ReDoc) offline, in a real browser (the
fixtures of ``test_dashboard``): every request to another origin is refused, and both pages still
render every route of the OpenAPI document from the assets a Python package ships."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from harness import Cluster
from test_dashboard import TIMEOUT_MS, browser, needs_chromium, screenshot, server

FIXTURES = (browser, server)
#: ReDoc's sidebar links its maker's logo from their CDN (an <img>, no option turns it off):
#: refused offline, it leaves a missing image and nothing else
BRANDING = {"https://cdn.redoc.ly/redoc/logo-mini.svg"}


@pytest.fixture
def offline_page(browser: Any, server: Cluster) -> Iterator[tuple[Any, list[str]]]:
    """A page that can reach only the server: any other request is aborted and recorded; so is
    any script error and any failed response of the server."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1400, "height": 1000})
    elsewhere: list[str] = []
    problems: list[str] = []

    def route(request: Any) -> None:
        if request.request.url.startswith(server.url) or request.request.url.startswith("data:"):
            request.continue_()
        else:
            elsewhere.append(request.request.url)
            request.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("response", lambda r: problems.append(f"{r.status} from {r.url}")
            if r.status >= 400 else None)
    try:
        yield page, elsewhere
        assert not problems, problems
        assert set(elsewhere) <= BRANDING, f"the docs asked another origin: {elsewhere}"
    finally:
        context.close()


def api_paths(server: Cluster) -> set[str]:
    with server.client() as client:
        return set(client.get("/openapi.json").json()["paths"])


@needs_chromium
def test_swagger_ui_renders_every_route_offline(offline_page: tuple[Any, list[str]],
                                                server: Cluster) -> None:
    page, _ = offline_page
    page.goto("/docs")
    page.wait_for_selector(".opblock-summary-path")
    shown = {el.get_attribute("data-path") for el in page.query_selector_all(
        ".opblock-summary-path")}
    assert shown == api_paths(server)
    assert page.text_content(".info .title")
    assert "gradsweep" in (page.text_content(".info .title") or "")
    # the page's assets are the shipped files, served by this server
    scripts = page.eval_on_selector_all("script[src]", "els => els.map(e => e.src)")
    assert scripts and all(s.startswith(server.url + "/static-docs/") for s in scripts)
    # an operation opens and shows its parameters
    page.click(".opblock-summary-path[data-path='/v1/sweeps/{sweep_id}/trials']")
    page.wait_for_selector(".parameters-container .parameter__name")
    names = page.eval_on_selector_all(".parameters-container .parameter__name",
                                      "els => els.map(e => e.textContent)")
    assert any("cursor" in n for n in names)
    screenshot(page, "api-docs-offline.png")


@needs_chromium
def test_redoc_renders_every_route_offline(offline_page: tuple[Any, list[str]],
                                           server: Cluster) -> None:
    page, _ = offline_page
    page.goto("/redoc")
    page.wait_for_selector("h1")
    page.wait_for_function("document.body.innerText.includes('/v1/sweeps/{sweep_id}/trials')")
    text = page.inner_text("body")
    assert "gradsweep" in text
    missing = [p for p in api_paths(server) if p not in text]
    assert not missing, missing
    screenshot(page, "api-redoc-offline.png")
