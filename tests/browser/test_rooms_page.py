"""The rooms view (会议室) in Chromium: the live day grid of a building, booking by dragging
across free slots (or tapping on a phone), a slot taken meanwhile, cancelling from a booking's
detail, and a room manager editing a room."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.browser.pages import PHONE, no_horizontal_scroll, open_tab, save_screenshot, signed_in
from tests.conftest import Api
from tests.test_room_bookings import BOOKINGS, MEDIUM, SMALL, VIDEO, local

VIEW = "#view-rooms"
DIALOG = f"{VIEW} dialog[open]"


def wire(day: int, hour: int, minute: int = 0) -> str:
    """The wire form (UTC, milliseconds) of a local time `day` days from today."""
    moment = datetime.fromisoformat(local(day, hour, minute)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def row(room_id: str) -> str:
    return f'{VIEW} .grid [data-room="{room_id}"]'


def slot(room_id: str, day: int, hour: int, minute: int = 0) -> str:
    return f'{row(room_id)} .slot[data-start="{wire(day, hour, minute)}"]'


async def rooms_tomorrow(page: Any) -> None:
    """The rooms view showing tomorrow (bookings in the past are refused)."""
    await open_tab(page, "rooms")
    await page.wait_for_selector(f"{row(SMALL)} .slot")
    await page.click(f"{VIEW} .day-next")
    await page.wait_for_selector(slot(SMALL, 1, 8))


async def drag(page: Any, room_id: str, first: tuple[int, int], last: tuple[int, int]) -> None:
    """Drag with the mouse from the slot starting at `first` to the one starting at `last`
    (local hour and minute, tomorrow)."""
    start = page.locator(slot(room_id, 1, *first))
    await start.scroll_into_view_if_needed()
    a = await start.bounding_box()
    b = await page.locator(slot(room_id, 1, *last)).bounding_box()
    await page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    await page.mouse.down()
    await page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=4)
    await page.mouse.up()


async def book_by_api(api: Api, who: str, room_id: str, title: str, start: str,
                      end: str) -> dict[str, Any]:
    status, reply = await api.call("POST", BOOKINGS, {"room_id": room_id, "title": title,
                                                      "start": start, "end": end},
                                   token=await api.token(who))
    assert status == 201, reply
    return reply["booking"]  # type: ignore[no-any-return]


async def test_a_room_booked_by_dragging_shows_up_on_another_users_grid_without_a_reload(
        node: Any, browser: Any, api: Api) -> None:
    booker = await signed_in(browser, node.url, "staff01")
    watcher = await signed_in(browser, node.url, "staff02")
    for page in (booker, watcher):
        await rooms_tomorrow(page)
    await watcher.evaluate("() => { window.notReloaded = true; }")
    assert await watcher.query_selector(f"{VIEW} .edit-room") is None  # staff edit no room

    await drag(booker, MEDIUM, (10, 0), (10, 30))
    await booker.wait_for_selector(f"{DIALOG} form.booking-form")
    assert await booker.input_value(f"{DIALOG} select[name=room_id]") == MEDIUM
    assert await booker.input_value(f"{DIALOG} select[name=start]") == "10:00"
    assert await booker.input_value(f"{DIALOG} select[name=end]") == "11:00"
    await booker.fill(f"{DIALOG} input[name=title]", "项目周会")
    await booker.click(f"{DIALOG} button[type=submit]")

    mine = await booker.wait_for_selector(f"{row(MEDIUM)} [data-booking].mine")
    booking_id = await mine.get_attribute("data-booking")
    assert "项目周会" in await booker.text_content(f"{VIEW} .rooms-notice")
    status, reply = await api.call("GET", f"{BOOKINGS}/{booking_id}",
                                   token=await api.token("staff02"))
    assert status == 200, reply
    assert (reply["booking"]["start"], reply["booking"]["end"]) == (wire(1, 10), wire(1, 11))
    _, me = await api.call("GET", "/api/v1/auth/me", token=await api.token("staff01"))

    block = f'{row(MEDIUM)} [data-booking="{booking_id}"]'
    await watcher.wait_for_selector(block, timeout=10000)
    await watcher.wait_for_function(
        "([sel, name]) => document.querySelector(sel)?.textContent.includes(name)",
        arg=[block, me["user"]["name"]], timeout=10000)
    assert "项目周会" in await watcher.text_content(block)
    assert "mine" not in (await watcher.get_attribute(block, "class") or "")
    assert await watcher.evaluate("() => window.notReloaded") is True
    await save_screenshot(booker, "rooms-desktop")


async def test_a_slot_taken_meanwhile_is_said_and_the_grid_shows_who_took_it(
        node: Any, browser: Any, api: Api) -> None:
    page = await signed_in(browser, node.url, "staff01")
    await rooms_tomorrow(page)
    await drag(page, SMALL, (14, 0), (14, 30))
    await page.wait_for_selector(f"{DIALOG} form.booking-form")
    await page.fill(f"{DIALOG} input[name=title]", "方案评审")

    taken = await book_by_api(api, "staff02", SMALL, "抢先的会", local(1, 14, 30), local(1, 15, 30))
    await page.click(f"{DIALOG} button[type=submit]")

    error = await page.wait_for_selector(f"{DIALOG} .error:has-text('抢先的会')")
    assert "刚被他人预订" in await error.text_content()
    await page.wait_for_selector(f'{row(SMALL)} [data-booking="{taken["id"]}"]')
    assert "刚被他人预订" in await page.text_content(f"{VIEW} .rooms-notice.error")
    assert await page.query_selector(f"{row(SMALL)} .slot.selected") is None


async def test_cancelling_from_the_detail_removes_the_block_from_both_pages(
        node: Any, browser: Any, api: Api) -> None:
    booking = await book_by_api(api, "staff01", VIDEO, "培训", local(1, 15), local(1, 16))
    owner = await signed_in(browser, node.url, "staff01")
    other = await signed_in(browser, node.url, "staff03")
    block = f'{row(VIDEO)} [data-booking="{booking["id"]}"]'
    for page in (owner, other):
        await rooms_tomorrow(page)
        await page.wait_for_selector(block)
    await owner.wait_for_selector(f"{block}.mine")

    await owner.click(block)
    await owner.wait_for_selector(f"{DIALOG} .booking-detail")
    assert await owner.query_selector(f"{DIALOG} .checkin") is None  # opens 10 min before
    await owner.click(f"{DIALOG} .cancel-booking")
    await owner.click(f"{DIALOG} .confirm-cancel")

    for page in (owner, other):
        await page.wait_for_selector(block, state="detached", timeout=10000)
    assert "已取消" in await owner.text_content(f"{VIEW} .rooms-notice")
    # the other user's detail offers no cancelling of someone else's booking
    mine = await book_by_api(api, "staff01", VIDEO, "复盘", local(1, 16), local(1, 17))
    await other.click(f'{row(VIDEO)} [data-booking="{mine["id"]}"]')
    await other.wait_for_selector(f"{DIALOG} .booking-detail")
    assert await other.query_selector(f"{DIALOG} .cancel-booking") is None


async def test_a_room_manager_edits_capacity_and_a_change_made_meanwhile_is_said(
        node: Any, browser: Any, api: Api) -> None:
    page = await signed_in(browser, node.url, "roommgr")
    await open_tab(page, "rooms")
    await page.click(f"{row(SMALL)} .edit-room")
    await page.wait_for_selector(f"{DIALOG} form.room-form")
    assert await page.input_value(f"{DIALOG} input[name=capacity]") == "8"

    status, _ = await api.call("PATCH", f"/api/v1/rooms/{SMALL}", {"area_m2": 30.0},
                               token=await api.token("roommgr"))
    assert status == 200
    await page.fill(f"{DIALOG} input[name=capacity]", "12")
    await page.click(f"{DIALOG} button[type=submit]")
    error = await page.wait_for_selector(f"{DIALOG} .error:has-text('刚被他人修改')")
    assert "2" in await error.text_content()
    assert await page.input_value(f"{DIALOG} input[name=area_m2]") == "30"

    await page.fill(f"{DIALOG} input[name=capacity]", "12")
    await page.click(f"{DIALOG} button[type=submit]")
    await page.wait_for_selector(f"{VIEW} dialog:not([open])", state="attached")
    await page.wait_for_selector(f'{row(SMALL)} .capacity[data-capacity="12"]')
    assert "12人" in await page.text_content(f"{row(SMALL)} .capacity")
    _, reply = await api.call("GET", f"/api/v1/rooms/{SMALL}", token=await api.token("staff01"))
    assert (reply["room"]["capacity"], reply["room"]["version"]) == (12, 3)


SMALL_CONTROLS = """() => [...document.querySelectorAll(
    '#view-rooms button, #view-rooms select, #view-rooms input:not([type=checkbox]), '
    + '#view-rooms summary, #view-rooms label.check')]
  .filter((e) => e.getClientRects().length && !e.closest('.block'))
  .map((e) => [e.className || e.tagName, e.getBoundingClientRect().height])
  .filter(([, h]) => h < 44)"""


async def test_on_a_phone_the_grid_scrolls_in_its_own_box_and_tapping_slots_books(
        node: Any, browser: Any) -> None:
    page = await signed_in(browser, node.url, "staff01", viewport=PHONE)
    await rooms_tomorrow(page)

    assert await no_horizontal_scroll(page)
    assert await page.evaluate(
        "() => { const g = document.querySelector('#view-rooms .grid');"
        " return g.scrollWidth > g.clientWidth; }")
    assert await page.evaluate(SMALL_CONTROLS) == []
    cell = await page.locator(slot(MEDIUM, 1, 9)).bounding_box()
    assert cell["width"] >= 44 and cell["height"] >= 44

    await page.tap(slot(MEDIUM, 1, 9))
    await page.wait_for_selector(f"{VIEW} .selection-bar:not([hidden])")
    await page.tap(slot(MEDIUM, 1, 10))
    assert "09:00–10:30" in await page.text_content(f"{VIEW} .selection-label")
    await page.tap(f"{VIEW} .selection-bar button.primary")
    await page.wait_for_selector(f"{DIALOG} form.booking-form")
    assert await page.input_value(f"{DIALOG} select[name=end]") == "10:30"
    assert await page.evaluate(SMALL_CONTROLS) == []
    await page.fill(f"{DIALOG} input[name=title]", "站会")
    await page.tap(f"{DIALOG} button[type=submit]")
    await page.wait_for_selector(f"{row(MEDIUM)} [data-booking].mine")

    assert await no_horizontal_scroll(page)
    await save_screenshot(page, "rooms-phone")
