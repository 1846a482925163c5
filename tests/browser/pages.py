"""Pages of the web client signed in as a demo user, on a desktop or a phone."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


async def signed_in(browser: Any, base: str, username: str, viewport: dict[str, int] | None = None,
                    locale: str = "zh-CN") -> Any:
    """A fresh browser context signed in as `username`, on the client's main page, with the
    live connection up."""
    context = await browser.new_context(viewport=viewport or DESKTOP, locale=locale,
                                        has_touch=viewport == PHONE)
    page = await context.new_page()
    page.on("pageerror", lambda error: print(f"[{username}] page error: {error}"))
    await page.goto(f"{base}/")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", "demo")
    await page.click("form#login button[type=submit]")
    await page.wait_for_function("() => window.xietong?.live?.state === 'online'", timeout=15000)
    return page


async def open_tab(page: Any, view: str) -> None:
    await page.click(f"#tabs button[data-view={view}]")
    await page.wait_for_selector(f"#view-{view}:not([hidden])")


async def save_screenshot(page: Any, name: str) -> None:
    """Writes `name`.png into $XIETONG_SCREENSHOTS when set (`make screenshots`); otherwise
    nothing, so the test suite leaves no files behind."""
    target = os.environ.get("XIETONG_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(target) / f"{name}.png"))


async def no_horizontal_scroll(page: Any) -> bool:
    return bool(await page.evaluate(
        "() => document.documentElement.scrollWidth <= window.innerWidth"))
