"""The client's shell: signing in, the tabs, the directory, and the layout on a phone."""

from __future__ import annotations

from typing import Any

from tests.browser.pages import PHONE, no_horizontal_scroll, open_tab, save_screenshot, signed_in


async def test_signing_in_shows_the_tabs_and_the_users_name(node: Any, browser: Any) -> None:
    page = await signed_in(browser, node.url, "clerk")

    assert await page.text_content("#me") == "赵文书 · 文书"
    tabs = await page.eval_on_selector_all("#tabs button", "bs => bs.map(b => b.dataset.view)")
    assert tabs == ["chat", "work", "contacts", "rooms"]


async def test_a_wrong_password_is_said_on_the_form_and_nothing_else_opens(
        node: Any, browser: Any) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{node.url}/")
    await page.fill("input[name=username]", "clerk")
    await page.fill("input[name=password]", "wrong")
    await page.click("form#login button[type=submit]")
    await page.wait_for_function("() => document.querySelector('#login-error').textContent !== ''")
    assert "wrong username or password" in await page.text_content("#login-error")
    await save_screenshot(page, "login-desktop")
    assert await page.is_hidden("#tabs")


async def test_the_english_client_speaks_english(node: Any, browser: Any) -> None:
    page = await signed_in(browser, node.url, "clerk", locale="en-GB")

    labels = await page.eval_on_selector_all("#tabs .label", "ls => ls.map(l => l.textContent)")
    assert labels == ["Chats", "Work", "Contacts", "Rooms"]


async def test_the_directory_finds_a_colleague_and_starts_a_chat_with_them(
        node: Any, browser: Any) -> None:
    page = await signed_in(browser, node.url, "clerk")
    await open_tab(page, "contacts")

    await page.fill("#view-contacts .search", "chief")
    await page.click("#view-contacts .people button[data-user=chief]")
    await page.wait_for_selector("#view-contacts .person:not([hidden]) button.primary")
    await save_screenshot(page, "contacts-desktop")
    await page.click("#view-contacts .person button.primary")

    await page.wait_for_selector("#view-chat:not([hidden])")
    assert await page.evaluate("() => location.hash") == "#chat"


async def test_on_a_phone_the_tabs_sit_at_the_bottom_touch_sized_and_nothing_scrolls_sideways(
        node: Any, browser: Any) -> None:
    page = await signed_in(browser, node.url, "staff01", viewport=PHONE)

    box = await (await page.query_selector("#tabs button[data-view=work]")).bounding_box()
    assert box["height"] >= 44
    assert box["y"] + box["height"] >= PHONE["height"] - 2
    for view in ("chat", "work", "contacts", "rooms"):
        await open_tab(page, view)
        assert await no_horizontal_scroll(page), view
    await open_tab(page, "contacts")
    await page.click("#view-contacts .tree button >> nth=0")
    await page.wait_for_selector("#view-contacts .people button")
    assert await no_horizontal_scroll(page)
    await save_screenshot(page, "contacts-phone")
