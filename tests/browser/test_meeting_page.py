"""The meeting page's panels in real Chromium against a real node: the participant list with
host controls, sign-in and its roll-up, votes with a live tally, materials, the phone layout,
and the page coming back by itself after its socket drops."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from tests.browser.pages import DESKTOP, PHONE, save_screenshot
from tests.conftest import Api, Connect, NodeFactory
from tests.test_meetings import create_meeting

WAIT_MS = 15_000


async def meeting_page(browser: Any, api: Api, username: str, meeting_id: str,
                       viewport: dict[str, int] = DESKTOP, locale: str = "zh-CN") -> Any:
    """A page of its own, signed in as `username` (the session put where the client keeps it),
    on the meeting's page once it has joined."""
    signed = await api.login(username)
    context = await browser.new_context(viewport=viewport, locale=locale,
                                        has_touch=viewport == PHONE)
    await context.add_init_script(
        "if (!sessionStorage.getItem('xietong.session')) "
        f"sessionStorage.setItem('xietong.session', {json.dumps(json.dumps(signed))});")
    page = await context.new_page()
    page.on("pageerror", lambda error: print(f"[{username}] page error: {error}"))
    await page.goto(f"{api.base}/meetings/{meeting_id}")
    await page.wait_for_selector(f'#people li[data-user="{username}"]', timeout=WAIT_MS)
    return page


def row(page: Any, username: str) -> Any:
    return page.locator(f'#people li[data-user="{username}"]')


async def test_the_list_names_everyone_marks_the_host_and_lets_the_host_mute_from_it(
        connect: Connect, node: Any, browser: Any, api: Api) -> None:
    meeting_id = await create_meeting(await connect("chief"), ["clerk"])
    chief = await meeting_page(browser, api, "chief", meeting_id)
    clerk = await meeting_page(browser, api, "clerk", meeting_id)

    for page in (chief, clerk):
        await expect(row(page, "clerk")).to_contain_text("赵文书", timeout=WAIT_MS)
        await expect(row(page, "chief")).to_contain_text("王建国")
        await expect(row(page, "chief").locator(".badge-host")).to_have_text("主持人")
        await expect(row(page, "clerk").locator(".badge-host")).to_have_count(0)
        await expect(page.locator("#status")).to_have_text("2 人在会")
    # Host controls are the host's alone.
    await expect(clerk.locator("#people button[data-action]")).to_have_count(0)
    await expect(clerk.locator("#end")).to_be_hidden()

    await chief.click('#people li[data-user="clerk"] button[data-action="mute"]')
    await expect(clerk.locator("#mic")).to_have_attribute("aria-pressed", "false", timeout=WAIT_MS)
    await expect(clerk.locator("#error")).to_have_text("主持人已将你静音")
    muted = row(clerk, "clerk").locator(".badge-muted")
    await expect(muted).to_have_text("已静音", timeout=WAIT_MS)
    await expect(row(chief, "clerk").locator(".badge-muted")).to_be_visible(timeout=WAIT_MS)
    # The microphone stays off while the host has it so.
    await clerk.click("#mic")
    await expect(clerk.locator("#mic")).to_have_attribute("aria-pressed", "false")

    await chief.click('#people li[data-user="clerk"] button[data-action="unmute"]')
    await expect(clerk.locator("#error")).to_have_text("主持人已允许你发言", timeout=WAIT_MS)
    await expect(row(clerk, "clerk").locator(".badge-muted")).to_have_count(0, timeout=WAIT_MS)

    # A raised hand shows in the list; the host lowers it from there.
    await clerk.click("#hand")
    await expect(row(chief, "clerk").locator(".badge-hand")).to_be_visible(timeout=WAIT_MS)
    await chief.click('#people li[data-user="clerk"] button[data-action="lower"]')
    await expect(clerk.locator("#hand")).to_have_attribute("aria-pressed", "false", timeout=WAIT_MS)
    await expect(row(chief, "clerk").locator(".badge-hand")).to_have_count(0)

    # Locking is announced to everyone in the meeting.
    await chief.click("#lock")
    await expect(chief.locator("#lock")).to_have_attribute("aria-pressed", "true", timeout=WAIT_MS)
    await expect(clerk.locator("#locked-note")).to_be_visible(timeout=WAIT_MS)


async def test_a_sign_in_reaches_the_roll_up_and_a_vote_tallies_on_both_pages(
        connect: Connect, node: Any, browser: Any, api: Api) -> None:
    meeting_id = await create_meeting(await connect("chief"), ["clerk"])
    chief = await meeting_page(browser, api, "chief", meeting_id)
    clerk = await meeting_page(browser, api, "clerk", meeting_id)

    for page in (chief, clerk):
        await page.click("#tab-checkin")
    signed = chief.locator('#attendance li[data-user="clerk"]')
    await expect(signed).to_have_attribute("data-status", "absent", timeout=WAIT_MS)
    await expect(clerk.locator("#rollup")).to_be_hidden()
    await clerk.click("#checkin")
    await expect(clerk.locator("#checkin-state")).to_contain_text("已签到", timeout=WAIT_MS)
    await expect(clerk.locator("#checkin")).to_be_disabled()
    await expect(signed).to_have_attribute("data-status", "signed_in", timeout=WAIT_MS)
    await expect(chief.locator("#attendance-totals")).to_contain_text("已签到 1 人")

    await chief.click("#tab-votes")
    await chief.fill("#motion-form input[name=title]", "关于调整预算的议案")
    await chief.click("#motion-form button[type=submit]")
    attention = re.compile(r"\battention\b")
    await expect(clerk.locator("#tab-votes")).to_have_class(attention, timeout=WAIT_MS)
    await clerk.click("#tab-votes")
    await expect(clerk.locator("#motion-form")).to_be_hidden()
    motion = '#motions li[data-status="open"]'
    await clerk.click(f'{motion} button[data-option="同意"]', timeout=WAIT_MS)
    for page in (clerk, chief):  # the host's page learns the count by asking again
        tally = page.locator(f"{motion} .tally")
        await expect(tally).to_have_text("已投票 1 / 2 人", timeout=WAIT_MS)
    await expect(clerk.locator(f"{motion} .voted")).to_have_text("你已投票：同意")

    await chief.click(f'{motion} button[data-action="close"]')
    for page in (chief, clerk):
        closed = page.locator('#motions li[data-status="closed"]')
        await expect(closed.locator(".outcome")).to_have_text("通过：同意", timeout=WAIT_MS)
        await expect(closed.locator('.counts li[data-option="同意"] .count')).to_have_text("1")


async def test_on_a_phone_controls_are_touch_sized_nothing_scrolls_sideways_materials_download(
        connect: Connect, node: Any, browser: Any, api: Api, tmp_path: Path) -> None:
    agenda = [{"title": "预算执行情况", "presenter": "clerk", "minutes": 15},
              {"title": "下季度计划"}]
    meeting_id = await create_meeting(await connect("chief"), ["clerk"], agenda=agenda)
    chief = await meeting_page(browser, api, "chief", meeting_id, viewport=DESKTOP)
    clerk = await meeting_page(browser, api, "clerk", meeting_id, viewport=PHONE)
    await clerk.wait_for_selector('#tiles figure[data-stream^="chief."]', timeout=WAIT_MS)

    # A host uploads to the first item; the phone sees it and downloads it with its token.
    await chief.click("#tab-agenda")
    document = tmp_path / "预算说明.txt"
    document.write_text("预算执行情况说明", encoding="utf-8")
    first_item = chief.locator("#agenda > li").first
    await first_item.locator("input[type=file]").set_input_files(str(document))
    await clerk.click("#tab-agenda")
    material = clerk.locator("#agenda .material button.link")
    await expect(material).to_have_text("预算说明.txt", timeout=WAIT_MS)
    async with clerk.expect_download() as download_info:
        await material.click()
    download = await download_info.value
    assert download.suggested_filename == "预算说明.txt"
    assert Path(await download.path()).read_text(encoding="utf-8") == "预算执行情况说明"

    # A host adds an agenda item; the others' agenda follows (`meeting:updated`).
    await chief.fill("#agenda-title", "其他事项")
    await chief.click("#agenda-add-button")
    await expect(clerk.locator("#agenda > li")).to_have_count(3, timeout=WAIT_MS)
    await expect(clerk.locator("#agenda > li").last).to_contain_text("其他事项")
    await expect(clerk.locator("#agenda-add")).to_be_hidden()

    buttons = clerk.locator("#controls button:visible, #panel-tabs button")
    assert await buttons.count() >= 8
    for box in [await buttons.nth(i).bounding_box() for i in range(await buttons.count())]:
        assert box is not None and box["height"] >= 44 and box["width"] >= 44, box
    for tab in ("people", "agenda", "checkin", "votes"):
        await clerk.click(f"#tab-{tab}")
        assert await clerk.evaluate("() => document.documentElement.scrollWidth") <= 390, tab
        for button in await clerk.locator(f"#panel-{tab} button:visible").all():
            box = await button.bounding_box()
            assert box is not None and box["height"] >= 44, (tab, box)

    # Something to look at in the screenshots: a vote under way on the phone.
    await chief.click("#tab-votes")
    await chief.fill("#motion-form input[name=title]", "同意下季度计划")
    await chief.click("#motion-form button[type=submit]")
    await expect(clerk.locator('#motions li[data-status="open"]')).to_have_count(1, timeout=WAIT_MS)
    await chief.click("#tab-people")
    await save_screenshot(chief, "meeting-desktop")
    await save_screenshot(clerk, "meeting-phone")


SESSION_ID = "() => window.xietongMeeting.sessionId"
REJOINED = "before => window.xietongMeeting.sessionId && window.xietongMeeting.sessionId !== before"


async def rejoined(page: Any, before: str) -> str:
    """The page's new session once it has joined again."""
    await page.wait_for_function(REJOINED, arg=before, timeout=WAIT_MS)
    return str(await page.evaluate(SESSION_ID))


async def test_a_page_whose_socket_drops_or_whose_node_drains_joins_again_by_itself(
        connect: Connect, node: Any, browser: Any, api: Api) -> None:
    meeting_id = await create_meeting(await connect("chief"), ["clerk"])
    chief = await meeting_page(browser, api, "chief", meeting_id)
    clerk = await meeting_page(browser, api, "clerk", meeting_id, locale="en-US")
    # English when the browser asks for it.
    await expect(clerk.locator("#leave")).to_have_text("Leave")
    await expect(clerk.locator("#status")).to_have_text("2 present", timeout=WAIT_MS)
    before = await clerk.evaluate(SESSION_ID)
    await chief.wait_for_selector(f'#tiles figure[data-stream="clerk.{before}"]', timeout=WAIT_MS)

    # An unexpected close: the page connects again and rejoins as a new device.
    await clerk.evaluate("() => window.xietongSocket.current.close()")
    after = await rejoined(clerk, before)
    await chief.wait_for_selector(f'#tiles figure[data-stream="clerk.{after}"]', timeout=WAIT_MS)
    await expect(chief.locator(f'#tiles figure[data-stream="clerk.{before}"]')).to_have_count(0)
    await expect(clerk.locator("#status")).to_have_text("2 present", timeout=WAIT_MS)

    # The node drains: every page waits the pause it asks for, comes back and rejoins.
    chief_before = await chief.evaluate(SESSION_ID)
    await node.gateway.drain(300)
    chief_after, clerk_after = await rejoined(chief, chief_before), await rejoined(clerk, after)
    for page, stream in ((chief, f"clerk.{clerk_after}"), (clerk, f"chief.{chief_after}")):
        await page.wait_for_selector(f'#tiles figure[data-stream="{stream}"]', timeout=WAIT_MS)
    await expect(row(chief, "clerk")).to_be_visible()
    await expect(chief.locator("#status")).to_have_text("2 人在会", timeout=WAIT_MS)


async def test_an_expiring_token_is_renewed_on_the_same_socket(
        start_node: NodeFactory, connect: Connect, browser: Any, http: Any) -> None:
    node = await start_node(access_token_ttl=60, token_expiry_warning=58)
    meeting_id = await create_meeting(await connect("chief", on=node), [])
    chief = await meeting_page(browser, Api(node.url, http), "chief", meeting_id)
    first = await chief.evaluate(TOKEN)
    socket = await chief.evaluate_handle("() => window.xietongSocket.current")
    # Warned two seconds after connecting, the page refreshes over REST and renews the socket.
    await chief.wait_for_function(f"first => ({TOKEN})() !== first", arg=first, timeout=WAIT_MS)
    assert await chief.evaluate("socket => window.xietongSocket.current === socket", socket)
    assert await chief.evaluate(
        "async () => (await window.xietongSocket.call('ping', {})).ts.endsWith('Z')")


TOKEN = "() => JSON.parse(sessionStorage.getItem('xietong.session')).token"
