"""The web client's entry page is served at / with its assets."""

from __future__ import annotations

from tests.conftest import Api


async def test_the_entry_page_has_a_login_form_and_loads_the_client(api: Api) -> None:
    status, html = await api.call("GET", "/")
    assert status == 200
    assert '<form id="login"' in html and 'name="password"' in html
    assert '/static/app.js' in html


async def test_the_client_assets_are_served(api: Api) -> None:
    for asset, marker in (("app.js", "/static/live.js"),
                          ("directory.js", "/api/v1/directory/departments"),
                          ("api.js", "/api/v1/auth/refresh"), ("app.css", ".directory")):
        status, text = await api.call("GET", f"/static/{asset}")
        assert status == 200 and marker in text


async def test_files_outside_the_client_folder_are_not_served(api: Api) -> None:
    for path in ("/static/../../pyproject.toml", "/static/%2e%2e/%2e%2e/README.md"):
        status, _ = await api.call("GET", path)
        assert status in (403, 404)
