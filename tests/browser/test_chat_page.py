"""The chat view in Chromium: live messages between two pages, unread badges and read receipts,
history paging, recall, text that looks like markup, search, a group with a mention and a
file, a dropped connection, and the phone layout."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import expect

from tests.browser.pages import PHONE, no_horizontal_scroll, save_screenshot, signed_in
from tests.chat_helpers import direct, send
from tests.flow_helpers import leave

CHAT = "#view-chat"


def conv_row(conv_id: str) -> str:
    return f'{CHAT} .conversations [data-conv="{conv_id}"]'


def message(msg_id: str) -> str:
    return f'{CHAT} .messages [data-msg="{msg_id}"]'


async def say(page: Any, text: str) -> None:
    await page.fill(f"{CHAT} .composer textarea", text)
    await page.press(f"{CHAT} .composer textarea", "Enter")


async def keep_typing_until_shown(typist: Any, watcher: Any, expected: str) -> None:
    typing = watcher.locator(f"{CHAT} .typing")
    for _ in range(40):
        await typist.locator(f"{CHAT} .composer textarea").press_sequentially("好")
        if await typing.text_content() == expected:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"the other page never showed {expected!r}")


async def test_two_people_chat_live_with_unread_badges_typing_and_read_receipts(
        node: Any, browser: Any, connect: Any) -> None:
    conv_id = await direct(await connect("clerk"), "chief")
    chief = await signed_in(browser, node.url, "chief")
    clerk = await signed_in(browser, node.url, "clerk")

    await clerk.click(conv_row(conv_id))
    await expect(clerk.locator(f"{CHAT} .thread-head h2")).to_have_text("王建国")
    await say(clerk, "王市长，预算报告已送审")
    own = clerk.locator(f"{CHAT} .messages .msg.own[data-msg]")
    await expect(own).to_have_count(1)
    await expect(own.locator("button.readers")).to_have_text("未读")
    await expect(clerk.locator(f"{CHAT} .messages .pending")).to_have_count(0)

    # The chief's page hears of it live: the row moves up with the preview and a badge.
    row = chief.locator(conv_row(conv_id))
    await expect(row.locator(".badge")).to_have_text("1")
    await expect(row.locator(".preview")).to_have_text("王市长，预算报告已送审")
    await expect(chief.locator("#tabs button[data-view=chat] .badge")).to_have_text("1")
    await expect(row.locator('.presence[data-status="online"]')).to_have_count(1)

    await row.click()
    received = chief.locator(f"{CHAT} .messages .msg.other .text")
    await expect(received).to_have_text(["王市长，预算报告已送审"])
    await expect(row.locator(".badge")).to_be_hidden()
    await expect(chief.locator("#tabs button[data-view=chat] .badge")).to_be_hidden()
    await expect(own.locator("button.readers")).to_have_text("已读")

    # Typing shows on the other page (the server passes it on at most every 2 s, so keep
    # typing until it does), and the message that follows replaces it.
    await keep_typing_until_shown(clerk, chief, "赵文书 正在输入…")
    await clerk.fill(f"{CHAT} .composer textarea", "另附说明")
    await clerk.press(f"{CHAT} .composer textarea", "Enter")
    await expect(received).to_have_text(["王市长，预算报告已送审", "另附说明"])
    await expect(chief.locator(f"{CHAT} .typing")).to_have_text("")
    await expect(row.locator(".badge")).to_be_hidden()
    await save_screenshot(chief, "chat-desktop")


async def test_work_notifications_stay_on_top_and_older_messages_load_a_page_at_a_time(
        node: Any, browser: Any, connect: Any) -> None:
    started = await (await connect("staff02")).ok("flow:start", leave(1))
    clerk = await connect("clerk")
    conv_id = await direct(clerk, "director")
    for number in range(1, 61):
        await send(clerk, conv_id, f"第{number}条")
    page = await signed_in(browser, node.url, "director")
    await expect(page.locator(f"{conv_row(conv_id)} .badge")).to_have_text("60")
    rows = page.locator(f"{CHAT} .conversations button.conv")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_have_attribute("data-conv", "n:director")
    await expect(rows.first.locator(".badge")).to_have_text("1")
    await expect(page.locator("#tabs button[data-view=chat] .badge")).to_have_text("61")

    await page.click(conv_row(conv_id))
    texts = page.locator(f"{CHAT} .messages .msg .text")
    await expect(texts).to_have_count(30)
    await expect(texts.last).to_have_text("第60条")
    await expect(page.locator(f"{conv_row(conv_id)} .badge")).to_be_hidden()

    await page.eval_on_selector(f"{CHAT} .scroller", "s => { s.scrollTop = 0; }")
    await expect(texts).to_have_count(60)
    assert await texts.all_text_contents() == [f"第{n}条" for n in range(1, 61)]
    await expect(page.locator(f"{CHAT} .older")).to_have_text("没有更早的消息了")

    # Another view opens a conversation by id; work notifications carry cards and take no reply.
    await page.evaluate("() => window.xietong.show('chat', { conv_id: 'n:director' })")
    card = page.locator(f'{CHAT} .messages [data-card-id="{started["card_id"]}"]')
    await expect(card).to_have_count(1)
    await expect(page.locator(f"{CHAT} .composer")).to_be_hidden()
    await expect(page.locator(f"{CHAT} .closed-note")).to_have_text("工作通知由系统发送，无需回复")
    await expect(page.locator("#tabs button[data-view=chat] .badge")).to_be_hidden()


async def test_a_recalled_message_becomes_a_stub_on_every_page(
        node: Any, browser: Any, connect: Any) -> None:
    chief = await connect("chief")
    conv_id = await direct(chief, "clerk")
    sent = await send(chief, conv_id, "这条发错了")
    page = await signed_in(browser, node.url, "clerk")
    await page.click(conv_row(conv_id))
    await expect(page.locator(message(sent["id"]))).to_contain_text("这条发错了")

    await chief.ok("msg:recall", {"msg_id": sent["id"]})
    stub = "王建国 撤回了一条消息"
    await expect(page.locator(message(sent["id"]))).to_have_text(stub)
    await expect(page.locator(f"{conv_row(conv_id)} .preview")).to_have_text(stub)

    # Our own message, recalled from its actions.
    await say(page, "我也发错了")
    mine = await chief.wait_for("msg:new", lambda d: d["message"]["text"] == "我也发错了")
    own = page.locator(message(mine["message"]["id"]))
    await own.hover()
    await own.locator(".actions button.recall").click()
    await expect(own).to_have_text("你撤回了一条消息")
    await chief.wait_for("msg:recalled", lambda d: d["msg_id"] == mine["message"]["id"])


async def test_text_that_looks_like_markup_shows_as_text_and_search_marks_the_phrase(
        node: Any, browser: Any, connect: Any) -> None:
    clerk = await connect("clerk")
    conv_id = await direct(clerk, "chief")
    attack = '<img src=x onerror="window.__pwned=1"><b>粗体</b>'
    hostile = await send(clerk, conv_id, attack)
    await send(clerk, conv_id, "请于周五前提交预算会议材料")
    group = await clerk.ok("conv:create", {"type": "group", "members": ["chief"],
                                           "title": "<i>群</i>"})
    page = await signed_in(browser, node.url, "chief")

    group_title = page.locator(f'{conv_row(group["conversation"]["id"])} .title')
    await expect(group_title).to_have_text("<i>群</i>")
    await page.click(conv_row(conv_id))
    await expect(page.locator(f'{message(hostile["id"])} .text')).to_have_text(attack)
    made = page.locator(f"{CHAT} img, {CHAT} .messages b, {CHAT} .conversations i")
    assert await made.count() == 0
    assert await page.evaluate("() => window.__pwned") is None

    await page.fill(f"{CHAT} .search", "预算会议")
    await page.press(f"{CHAT} .search", "Enter")
    result = page.locator(f"{CHAT} .results button.result")
    await expect(result).to_have_count(1)
    await expect(result.locator("mark")).to_have_text(["预算会议"])
    await expect(result.locator(".snippet")).to_have_text("请于周五前提交预算会议材料")
    await expect(page.locator(f"{CHAT} .conv-list")).to_be_hidden()
    await result.click()
    flashed = page.locator(f"{CHAT} .messages .msg.flash .text")
    await expect(flashed).to_have_text("请于周五前提交预算会议材料")


async def test_a_group_made_on_the_page_with_a_mention_receipts_and_a_file(
        node: Any, browser: Any, connect: Any) -> None:
    chief = await connect("chief")
    director = await connect("director")
    page = await signed_in(browser, node.url, "clerk")

    await page.click(f"{CHAT} .new-group")
    for username in ("chief", "director"):
        await page.fill(f"{CHAT} .group-find", username)
        await page.check(f'{CHAT} .group-found input[data-user="{username}"]')
    await page.fill(f"{CHAT} .group-title", "预算工作组")
    await page.click(f"{CHAT} .group-dialog .create")
    await expect(page.locator(f"{CHAT} .thread-head h2")).to_have_text("预算工作组")
    created = await chief.wait_for("conv:new")
    conv_id = created["conversation"]["id"]

    # `@` offers the members; the chosen one is sent as a mention.
    textarea = page.locator(f"{CHAT} .composer textarea")
    await textarea.press_sequentially("@王")
    await page.click(f'{CHAT} .mention-picker [data-mention="user:chief"]')
    await textarea.press_sequentially("请审阅")
    await textarea.press("Enter")
    pushed = await chief.wait_for("msg:new", lambda d: d["message"]["conv_id"] == conv_id
                                  and d["message"]["type"] == "text")
    assert pushed["message"]["text"] == "@王建国 请审阅"
    assert pushed["message"]["mentions"] == ["user:chief"] and pushed["message"]["mention"] is True

    readers = page.locator(f'{message(pushed["message"]["id"])} button.readers')
    await expect(readers).to_have_text("2人未读")
    await chief.ok("msg:read", {"conv_id": conv_id, "seq": pushed["message"]["seq"]})
    await expect(readers).to_have_text("1人未读")
    await readers.click()
    await expect(page.locator(f"{CHAT} .readers-pop .read li")).to_have_text(["王建国"])
    await expect(page.locator(f"{CHAT} .readers-pop .unread li")).to_have_text(["张主任"])

    # A message that mentions us stands out.
    mention = await send(director, conv_id, "@赵文书 请补充材料", mentions=["user:clerk"])
    await expect(page.locator(f'{message(mention["id"])}.mentioned')).to_have_count(1)

    await page.set_input_files(f"{CHAT} .composer input[type=file]", files=[{
        "name": "预算说明.txt", "mimeType": "text/plain", "buffer": "二〇二六年预算说明".encode()}])
    filed = await director.wait_for("msg:new", lambda d: d["message"]["type"] == "file")
    assert filed["message"]["file"]["name"] == "预算说明.txt"
    item = page.locator(message(filed["message"]["id"]))
    await expect(item.locator(".file-name")).to_have_text("预算说明.txt")
    async with page.expect_download() as downloading:
        await item.locator("button.download").click()
    download = await downloading.value
    assert download.suggested_filename == "预算说明.txt"


# Records the page's WebSockets and can refuse new ones, so a test can drop the connection
# and keep it down for a moment.
SOCKET_TAP = """
(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.__blockSockets = false;
  window.WebSocket = class extends Native {
    constructor(url, protocols) {
      super(window.__blockSockets ? "ws://127.0.0.1:9/" : url, protocols);
      window.__sockets.push(this);
    }
  };
})();
"""


async def test_after_a_dropped_connection_what_was_missed_shows_once_and_a_failed_send_goes_once(
        node: Any, browser: Any, connect: Any) -> None:
    clerk = await connect("clerk")
    conv_id = await direct(clerk, "chief")
    page = await signed_in(browser, node.url, "chief")
    await page.context.add_init_script(SOCKET_TAP)
    await page.reload()
    await page.wait_for_function("() => window.xietong?.live?.state === 'online'", timeout=15000)
    await page.click(conv_row(conv_id))
    await expect(page.locator(f"{CHAT} .composer textarea")).to_be_visible()

    await page.evaluate(
        "() => { window.__blockSockets = true; window.__sockets.forEach(s => s.close()); }")
    await page.wait_for_function("() => window.xietong.live.state === 'reconnecting'")
    missed = await send(clerk, conv_id, "断线期间的消息")
    await say(page, "离线时写的回复")
    await expect(page.locator(f"{CHAT} .messages .pending.failed")).to_have_count(1)

    await page.evaluate("() => { window.__blockSockets = false; }")
    await page.wait_for_function("() => window.xietong.live.state === 'online'", timeout=15000)
    await expect(page.locator(message(missed["id"]))).to_have_count(1)
    reply = await clerk.wait_for("msg:new", lambda d: d["message"]["text"] == "离线时写的回复")
    await expect(page.locator(message(reply["message"]["id"]))).to_have_count(1)
    await expect(page.locator(f"{CHAT} .messages .pending")).to_have_count(0)
    await asyncio.sleep(0.3)
    texts = await page.locator(f"{CHAT} .messages .msg .text").all_text_contents()
    assert texts == ["断线期间的消息", "离线时写的回复"]
    assert [d["message"]["text"] for d in clerk.received("msg:new")].count("离线时写的回复") == 1


async def test_on_a_phone_the_list_and_the_conversation_take_turns_touch_sized(
        node: Any, browser: Any, connect: Any) -> None:
    clerk = await connect("clerk")
    conv_id = await direct(clerk, "staff01")
    await send(clerk, conv_id, "请查收通知。" + "长" * 200 + "x" * 300)
    page = await signed_in(browser, node.url, "staff01", viewport=PHONE)

    await expect(page.locator(f"{CHAT} .thread")).to_be_hidden()
    assert await no_horizontal_scroll(page)
    await page.click(conv_row(conv_id))
    await expect(page.locator(f"{CHAT} .sidebar")).to_be_hidden()
    await expect(page.locator(f"{CHAT} .messages .msg")).to_have_count(1)
    for control in ("textarea", "button.send", "button.attach"):
        box = await page.locator(f"{CHAT} .composer {control}").bounding_box()
        assert box is not None and box["height"] >= 44, control
        assert box["y"] + box["height"] <= PHONE["height"] - 56, control
    assert await no_horizontal_scroll(page)
    await save_screenshot(page, "chat-phone")

    await page.click(f"{CHAT} .thread-head .back")
    await expect(page.locator(f"{CHAT} .sidebar")).to_be_visible()
    await expect(page.locator(f"{CHAT} .thread")).to_be_hidden()
