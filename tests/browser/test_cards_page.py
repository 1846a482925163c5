"""Cards and the work view (工作台) in a real browser: starting a leave from its form,
approving it by clicking in the card while the applicant's card changes in place, a stale
click, the clerk-only incoming document form, and the layout on a phone."""

from __future__ import annotations

import re
from typing import Any

from tests.browser.pages import (
    PHONE,
    no_horizontal_scroll,
    open_tab,
    save_screenshot,
    signed_in,
)
from tests.flow_helpers import decide

WORK = "#view-work"


def card(card_id: str, box: str | None = None) -> str:
    """The card in the work view (in that box when one is named)."""
    shown = f"[data-box={box}]" if box else ""
    return f'{WORK}{shown} .card[data-card-id="{card_id}"]'


async def start_leave(client: Any, **form: Any) -> str:
    started = await client.ok("flow:start", {"flow": "leave", "form": {
        "leave_type": "annual", "start": "2026-12-01", "end": "2026-12-01", "reason": "回老家",
        **form}})
    return str(started["card_id"])


async def test_a_leave_started_in_the_form_is_approved_in_the_card_and_the_applicant_sees_it(
        node: Any, browser: Any) -> None:
    applicant = await signed_in(browser, node.url, "staff01")
    await open_tab(applicant, "work")
    await applicant.click(f"{WORK} .work-start-button")
    offered = await applicant.eval_on_selector_all(f"{WORK} .flow-chooser button",
                                                   "bs => bs.map(b => b.dataset.flow)")
    assert offered == ["leave", "trip", "supplies", "circulation"]  # 收文 is for clerks

    # A missing field: the server's message appears by that field, and nothing typed is lost.
    await applicant.click(f"{WORK} .flow-chooser button[data-flow=leave]")
    form = f"{WORK} form.flow-form[data-flow=leave]"
    await applicant.fill(f"{form} [data-field=start] input", "2026-12-01")
    await applicant.fill(f"{form} [data-field=end] input", "2026-12-01")
    await applicant.click(f"{form} button[type=submit]")
    error = f"{form} [data-error-for=reason]"
    await applicant.wait_for_selector(f"{error}:not(:empty)")
    assert "required" in await applicant.text_content(error)
    assert await applicant.text_content(f"{form} [data-error-for=start]") == ""
    assert await applicant.input_value(f"{form} [data-field=start] input") == "2026-12-01"

    await applicant.fill(f"{form} [data-field=reason] textarea", "家中有事")
    await applicant.click(f"{form} button[type=submit]")
    mine = f"{WORK}[data-box=mine] .work-items .card[data-flow=leave]"
    await applicant.wait_for_selector(f"{mine}[data-status=pending]")
    card_id = await applicant.get_attribute(mine, "data-card-id")
    await applicant.evaluate("() => { window.stillTheSamePage = true; }")

    # staff01's department head approves in the card, with a comment.
    approver = await signed_in(browser, node.url, "director")
    await open_tab(approver, "work")
    await approver.wait_for_selector(f"{card(card_id, 'todo')}[data-status=pending]")
    await approver.wait_for_function(
        "() => document.querySelector('#tabs button[data-view=work] .badge').textContent === '1'")
    await approver.click(f"{card(card_id)} button.card-action[data-action=approve]")
    await approver.fill(f"{card(card_id)} .card-form textarea[name=comment]", "同意，注意安全")
    await save_screenshot(approver, "work-desktop")
    await approver.click(f"{card(card_id)} .card-form button[type=submit]")
    await approver.wait_for_selector(f"{card(card_id)}[data-status=approved]")
    assert await approver.query_selector(f"{card(card_id)} .card-action") is None
    await approver.wait_for_function(
        "() => document.querySelector('#tabs button[data-view=work] .badge').hidden")

    # The applicant's card changed where it is, without a reload.
    applicant_card = f"{mine}[data-card-id=\"{card_id}\"]"
    await applicant.wait_for_selector(f"{applicant_card}[data-status=approved]")
    assert await applicant.evaluate("() => window.stillTheSamePage === true")
    await applicant.wait_for_function(
        "sel => document.querySelector(sel).textContent.includes('张主任')", arg=applicant_card)
    timeline = await applicant.text_content(f"{applicant_card} .card-timeline")
    assert "同意，注意安全" in timeline
    assert await applicant.text_content(f"{applicant_card} .card-status") == "已同意"


async def test_a_stale_click_shows_who_acted_first(node: Any, browser: Any, connect: Any) -> None:
    applicant = await connect("staff02")
    card_id = await start_leave(applicant)
    other_device = await connect("director")

    page = await signed_in(browser, node.url, "director")
    # This page misses the push of the other device's decision, as a page whose connection
    # was down would: it still shows the buttons of the earlier version.
    dropping = {"on": False}

    def relay(ws: Any) -> None:
        server = ws.connect_to_server()
        ws.on_message(server.send)
        server.on_message(lambda m: None if dropping["on"] and '"card:update"' in str(m)
                          else ws.send(m))

    await page.route_web_socket(re.compile(r"/socket\.io/"), relay)
    await page.reload()
    await page.wait_for_function("() => window.xietong?.live?.state === 'online'", timeout=15000)
    await open_tab(page, "work")
    await page.wait_for_selector(f"{card(card_id)} button.card-action[data-action=approve]")

    dropping["on"] = True
    await decide(other_device, card_id, "approve", comment="已阅")
    await page.click(f"{card(card_id)} button.card-action[data-action=approve]")
    await page.click(f"{card(card_id)} .card-form button[type=submit]")

    notice = f"{card(card_id)} .card-notice"
    await page.wait_for_function(
        "sel => document.querySelector(sel)?.textContent.includes('已由 张主任 处理')", arg=notice)
    assert await page.get_attribute(card(card_id), "data-status") == "approved"
    assert await page.query_selector(f"{card(card_id)} .card-action") is None


async def test_only_a_clerk_is_offered_the_incoming_document_form(node: Any, browser: Any) -> None:
    page = await signed_in(browser, node.url, "clerk")
    await open_tab(page, "work")
    await page.click(f"{WORK} .work-start-button")
    await page.click(f"{WORK} .flow-chooser button[data-flow=incoming_doc]")
    form = f"{WORK} form.flow-form[data-flow=incoming_doc]"
    await page.fill(f"{form} [data-field=title] input", "关于做好冬季安全生产工作的通知")
    await page.fill(f"{form} [data-field=issuer] input", "市应急管理局")
    await page.fill(f"{form} [data-field=doc_number] input", "应急〔2026〕12号")
    await page.check(f"{form} [data-field=departments] input[value=finance]")
    await page.click(f"{form} button[type=submit]")
    await page.wait_for_selector(
        f"{WORK}[data-box=mine] .card[data-flow=incoming_doc][data-status=pending]")
    # staff01 is offered no such form (the first test checks the whole list).


async def test_on_a_phone_cards_are_touch_sized_and_nothing_scrolls_sideways(
        node: Any, browser: Any, connect: Any) -> None:
    applicant = await connect("staff03")
    card_id = await start_leave(applicant, reason="家中老人住院需陪护" + "W" * 120,
                                phone="13812345678")

    page = await signed_in(browser, node.url, "director", viewport=PHONE)
    await open_tab(page, "work")
    await page.wait_for_selector(f"{card(card_id)} button.card-action[data-action=approve]")
    assert await no_horizontal_scroll(page)
    await save_screenshot(page, "work-phone")

    for action in ("approve", "reject"):
        box = await (await page.query_selector(
            f"{card(card_id)} button.card-action[data-action={action}]")).bounding_box()
        assert box["height"] >= 44, (action, box)
    await page.click(f"{card(card_id)} button.card-action[data-action=reject]")
    # 驳回 needs a comment: the form says so before anything is sent.
    await page.click(f"{card(card_id)} .card-form button[type=submit]")
    await page.wait_for_selector(f"{card(card_id)} .card-form .field-error")
    for button in ("button[type=submit]", "button.card-cancel"):
        box = await (await page.query_selector(
            f"{card(card_id)} .card-form {button}")).bounding_box()
        assert box["height"] >= 44, (button, box)
    assert await no_horizontal_scroll(page)
    await page.eval_on_selector(card(card_id), "c => c.scrollIntoView({ block: 'start' })")
    await save_screenshot(page, "card-phone")

    await page.click(f"{WORK} .work-start-button")
    await page.click(f"{WORK} .flow-chooser button[data-flow=supplies]")
    assert await no_horizontal_scroll(page)
