"""Two Chromium pages hold a meeting through the SFU: each decodes the other's camera, and the
server decodes and encodes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import Connect
from tests.test_meetings import assert_forwarded_without_decoding, create_meeting

FRAMES_DECODED = """async () => {
  const meeting = window.xietongMeeting;
  return meeting ? (await meeting.inboundStats()).video.framesDecoded : 0;
}"""


async def open_meeting(browser: Any, base: str, username: str, meeting_id: str) -> Any:
    """Sign in on the entry page, which sends the user on to the meeting's page."""
    context = await browser.new_context(locale="zh-CN")
    page = await context.new_page()
    await page.goto(f"{base}/?next=/meetings/{meeting_id}")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", "demo")
    await page.click("form#login button[type=submit]")
    await page.wait_for_url(f"{base}/meetings/{meeting_id}")
    return page


async def chief_and_clerk(connect: Connect, node: Any, browser: Any) -> tuple[Any, Any]:
    """chief's meeting with clerk, each in a page of their own."""
    meeting_id = await create_meeting(await connect("chief"), ["clerk"])
    return (await open_meeting(browser, node.url, "chief", meeting_id),
            await open_meeting(browser, node.url, "clerk", meeting_id))


async def frames_decoded(page: Any, at_least: int, timeout: float = 30.0) -> int:
    async with asyncio.timeout(timeout):
        while (decoded := await page.evaluate(FRAMES_DECODED)) <= at_least:
            await asyncio.sleep(0.2)
    return int(decoded)


async def test_two_chromium_pages_decode_each_others_video_the_server_decodes_nothing(
        connect: Connect, node: Any, browser: Any) -> None:
    chief_page, clerk_page = await chief_and_clerk(connect, node, browser)

    for page in (chief_page, clerk_page):
        assert await frames_decoded(page, at_least=30) > 30
    # Each page shows its own preview and one tile for the other, named from the directory.
    for page, other in ((chief_page, "clerk"), (clerk_page, "chief")):
        streams = await page.eval_on_selector_all(
            "#tiles figure", "tiles => tiles.map(t => t.dataset.stream)")
        assert len(streams) == 2 and "self" in streams
        assert any(s.startswith(f"{other}.") for s in streams)
    await assert_forwarded_without_decoding(node)


async def test_a_shared_screen_reaches_the_other_page_as_a_second_video_of_the_same_device(
        connect: Connect, node: Any, browser: Any) -> None:
    chief_page, clerk_page = await chief_and_clerk(connect, node, browser)
    await frames_decoded(clerk_page, at_least=10)

    await chief_page.click("#screen")
    async with asyncio.timeout(20):
        while "screen" not in (sources := await clerk_page.evaluate(CHIEF_SOURCES)):
            assert await chief_page.text_content("#error") == ""
            await asyncio.sleep(0.2)
    assert sorted(sources) == ["camera", "microphone", "screen"]
    async with asyncio.timeout(20):
        while await clerk_page.evaluate(LIVE_VIDEO_TRACKS) < 2:
            await asyncio.sleep(0.2)
    assert await frames_decoded(clerk_page, at_least=60) > 60


LIVE_VIDEO_TRACKS = """() => window.xietongMeeting.pc.getReceivers()
  .filter(r => r.track.kind === "video" && r.track.readyState === "live" && !r.track.muted)
  .length"""

CHIEF_SOURCES = """() => window.xietongMeeting.participants
  .filter(p => p.user_id === "chief").flatMap(p => p.tracks.map(t => t.source))"""


async def test_a_participant_who_leaves_disappears_from_the_other_page(
        connect: Connect, node: Any, browser: Any) -> None:
    chief_page, clerk_page = await chief_and_clerk(connect, node, browser)
    await frames_decoded(chief_page, at_least=10)
    assert len(await chief_page.query_selector_all("#tiles figure")) == 2

    await clerk_page.click("#leave")
    await chief_page.wait_for_function(
        "() => document.querySelectorAll('#tiles figure').length === 1", timeout=10_000)
    assert await chief_page.text_content("#status") == "1 人在会"
    assert await clerk_page.text_content("#status") == "已离开会议"


LOCAL_AUDIO_ENABLED = """() => window.xietongMeeting.local.getAudioTracks()
  .every(t => t.enabled)"""


async def test_a_page_muted_by_the_host_turns_its_microphone_off_and_shows_the_raised_hand(
        connect: Connect, node: Any, browser: Any) -> None:
    chief = await connect("chief")
    meeting_id = await create_meeting(chief, ["clerk"])
    chief_page = await open_meeting(browser, node.url, "chief", meeting_id)
    clerk_page = await open_meeting(browser, node.url, "clerk", meeting_id)
    await frames_decoded(chief_page, at_least=10)

    await clerk_page.click("#hand")
    await chief_page.wait_for_selector("#tiles figure.hand", timeout=10_000)
    await chief.ok("meeting:mute", {"meeting_id": meeting_id, "user_id": "clerk"})
    await clerk_page.wait_for_function(
        "() => document.querySelector('#mic').getAttribute('aria-pressed') === 'false'",
        timeout=10_000)
    assert await clerk_page.evaluate(LOCAL_AUDIO_ENABLED) is False
    assert await clerk_page.text_content("#error") == "主持人已将你静音"
    await chief_page.wait_for_selector("#tiles figure.muted", timeout=10_000)

    await chief.ok("meeting:remove", {"meeting_id": meeting_id, "user_id": "clerk"})
    await clerk_page.wait_for_function(
        "() => document.querySelector('#status').textContent === '主持人已将你移出会议'",
        timeout=10_000)
