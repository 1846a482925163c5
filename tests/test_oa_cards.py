"""The OA integration (PROTOCOL §4): an admin registers an external application; the
application sends signed cards with `POST /api/v1/cards`; each act on such a card is called
back to the application, signed, at a receiver on loopback that verifies it with the SDK;
the application's answer shows on the card for every holder; failures are retried with
backoff on the node's clock and finally shown as failed."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from xietong_sdk.webhooks import (
    BadSignature,
    StaleTimestamp,
    WebhookError,
    sign,
    signed_headers,
    verify,
)

from core.clock import FakeClock
from signaling.app import Node
from tests.chat_helpers import error_code
from tests.conftest import Api, Client, Connect, NodeFactory

_keys = itertools.count()
APPROVE = {"id": "approve", "label": "同意", "style": "primary",
           "inputs": [{"id": "comment", "type": "comment"}]}
REJECT = {"id": "reject", "label": "驳回", "style": "danger",
          "inputs": [{"id": "comment", "type": "comment", "required": True}]}
HANG = "hang"


@dataclass
class Hit:
    at: float
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


class Receiver:
    """An application's callback endpoint: verifies every request with the SDK (refusing
    bad ones with 401, as an application must) and answers with the queued replies in
    order, the last one for ever after."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self.secret = ""
        self.now = now
        self.hits: list[Hit] = []
        self.refused: list[str] = []
        self.replies: list[Any] = [(200, {})]
        self.release = asyncio.Event()
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/callback", self._on_post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/callback"

    async def close(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _on_post(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            verify(self.secret, request.headers, body, now=self.now())
        except WebhookError as exc:
            self.refused.append(str(exc))
            self._changed.set()
            return web.Response(status=401)
        self.hits.append(Hit(self.now(), dict(request.headers), body))
        self._changed.set()
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if reply == HANG:
            await self.release.wait()
            return web.Response(status=200)
        status, answer = reply
        return web.json_response(answer, status=status)

    async def wait_hits(self, count: int, timeout: float = 10.0) -> Hit:
        async with asyncio.timeout(timeout):
            while len(self.hits) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.hits[count - 1]


@pytest.fixture
async def receivers() -> AsyncIterator[Callable[..., Any]]:
    made: list[Receiver] = []

    async def make(now: Callable[[], float] = time.time) -> Receiver:
        receiver = Receiver(now)
        await receiver.start()
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        await receiver.close()


async def register(api: Api, receiver: Receiver, name: str = "采购系统") -> dict[str, Any]:
    status, body = await api.call("POST", "/api/v1/apps",
                                  {"name": name, "callback_url": receiver.url},
                                  token=await api.token("admin"))
    assert status == 201, body
    receiver.secret = body["secret"]
    return body  # type: ignore[no-any-return]


async def send_card(http: aiohttp.ClientSession, node: Node, app: dict[str, Any],
                    card: Any, *, now: float | None = None, secret: str | None = None,
                    raw: bytes | None = None,
                    headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """`POST /api/v1/cards` signed as the application (at `now` of the node's clock)."""
    body = raw if raw is not None else json.dumps(card, ensure_ascii=False).encode()
    signed = signed_headers(app["app_id"], secret or app["secret"], body,
                            now=node.clock.time() if now is None else now)
    async with http.post(node.url + "/api/v1/cards", data=body,
                         headers=signed if headers is None else headers) as response:
        return response.status, await response.json()


def card_to(*people: str, actors: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    card: dict[str, Any] = {"to": list(people), "title": "采购申请：打印机 2 台",
                            "fields": [{"label": "金额", "value": "¥3,200"}],
                            "actions": [APPROVE, REJECT], **extra}
    if actors is not None:
        card["actors"] = actors
    return card


def act(card_id: str, version: int, action: str = "approve", **inputs: Any) -> dict[str, Any]:
    return {"card_id": card_id, "action": action, "version": version,
            "idempotency_key": f"oa{next(_keys)}", "inputs": inputs}


async def card_message(client: Client, card_id: str) -> dict[str, Any]:
    data = await client.wait_for("msg:new", lambda d: d["message"]["type"] == "card" and
                                 d["message"]["card"]["card_id"] == card_id)
    return data["message"]["card"]  # type: ignore[no-any-return]


def callback_state(state: str, card_id: str) -> Callable[[Any], bool]:
    return lambda d: d["card_id"] == card_id and \
        d["card"]["timeline"][-1].get("callback", {}).get("state") == state


async def retry_scheduled(node: Node, delivery_id: str, delay: float) -> None:
    """Until the failed attempt is recorded with its next attempt `delay` from now."""
    due = node.clock.time() + delay
    async with asyncio.timeout(10):
        while (await node.db["oa_callbacks"].find_one({"_id": delivery_id}) or {}).get(
                "due") != due:
            await asyncio.sleep(0.02)


# --- the whole path ------------------------------------------------------------------------

async def test_an_app_card_reaches_every_holder_and_an_act_is_called_back_signed(
        node: Node, api: Api, connect: Connect, http: aiohttp.ClientSession,
        receivers: Callable[..., Any]) -> None:
    receiver = await receivers()
    app = await register(api, receiver)
    receiver.replies = [(200, {"status": "approved", "message": "已生成采购单 PO-7",
                               "fields": [{"label": "金额", "value": "¥3,200"},
                                          {"label": "采购单", "value": "PO-7"}],
                               "extra": "ignored"})]
    director, deputy, watcher = [await connect(u) for u in ("director", "deputy", "staff02")]
    status, sent = await send_card(http, node, app, card_to(
        "director", "deputy", "staff02", actors=["director", "deputy"], external_id="PR-1"))
    assert status == 201 and sent["holders"] == 3, sent
    card_id = sent["card_id"]
    seen = {u: await card_message(c, card_id)
            for u, c in (("director", director), ("deputy", deputy), ("staff02", watcher))}
    assert [a["id"] for a in seen["director"]["actions"]] == ["approve", "reject"]
    assert seen["director"]["actions"][1]["inputs"] == [
        {"id": "comment", "type": "comment", "required": True}]
    assert seen["staff02"]["actions"] == [] and seen["staff02"]["status"] == "pending"
    assert seen["deputy"]["fields"] == [{"label": "金额", "value": "¥3,200"}]

    done = (await director.ok("card:act", act(card_id, 1, comment="同意购买")))["card"]
    entry = done["timeline"][0]
    assert entry["actor_id"] == "director" and entry["comment"] == "同意购买"
    assert entry["callback"]["state"] == "pending"
    hit = await receiver.wait_hits(1)
    assert receiver.refused == []
    assert hit.headers["X-Xietong-App"] == app["app_id"]
    assert hit.headers["X-Xietong-Signature"] == sign(
        app["secret"], int(hit.headers["X-Xietong-Timestamp"]), hit.body)
    assert hit.payload == {"event": "card.act", "app_id": app["app_id"], "card_id": card_id,
                           "external_id": "PR-1", "actor_id": "director", "action": "approve",
                           "inputs": {"comment": "同意购买"}, "version": 2, "at": entry["at"],
                           "delivery_id": entry["callback"]["delivery_id"]}

    for client in (director, deputy, watcher):
        update = await client.wait_for("card:update", callback_state("delivered", card_id))
        shown = update["card"]
        assert update["version"] == 3 and shown["status"] == "approved"
        assert shown["fields"][-1] == {"label": "采购单", "value": "PO-7"}
        assert shown["timeline"][0]["callback"] == {
            "delivery_id": entry["callback"]["delivery_id"], "state": "delivered",
            "attempts": 1, "status": "approved", "message": "已生成采购单 PO-7"}
        assert shown["actions"] == []
    assert len(receiver.hits) == 1


async def test_in_all_mode_each_act_has_its_own_callback(
        node: Node, api: Api, connect: Connect, http: aiohttp.ClientSession,
        receivers: Callable[..., Any]) -> None:
    receiver = await receivers()
    app = await register(api, receiver)
    director, deputy = await connect("director"), await connect("deputy")
    _, sent = await send_card(http, node, app, card_to("director", "deputy", mode="all"))
    card_id = sent["card_id"]
    await director.ok("card:act", act(card_id, 1))
    await deputy.wait_for("card:update", callback_state("delivered", card_id))
    last = (await deputy.ok("card:act", act(card_id, 3, action="reject", comment="预算不足")))
    assert last["card"]["status"] == "done"  # what a decision means is the application's
    second = await receiver.wait_hits(2)
    first = receiver.hits[0]
    assert (first.payload["actor_id"], first.payload["version"]) == ("director", 2)
    assert (second.payload["actor_id"], second.payload["action"],
            second.payload["inputs"]) == ("deputy", "reject", {"comment": "预算不足"})
    assert first.payload["delivery_id"] != second.payload["delivery_id"]
    update = await director.wait_for("card:update", lambda d: d["version"] == 5)
    assert [t["callback"]["state"] for t in update["card"]["timeline"]] == ["delivered"] * 2


# --- retries on the node's clock -----------------------------------------------------------

async def test_a_failing_receiver_is_retried_with_backoff_and_finally_shown_as_failed(
        start_node: NodeFactory, fake_clock: FakeClock, connect: Connect,
        http: aiohttp.ClientSession, receivers: Callable[..., Any]) -> None:
    node = await start_node(clock=fake_clock, access_token_ttl=30 * 86400.0,
                            card_callback_attempts=3, card_callback_timeout=0.3)
    api = Api(node.url, http)
    flaky, down = await receivers(fake_clock.time), await receivers(fake_clock.time)
    flaky_app, down_app = await register(api, flaky, "公文系统"), await register(api, down)
    flaky.replies = [(500, {}), (502, {}), (200, {"message": "已登记"})]
    down.replies = [HANG, (503, {})]
    director, watcher = await connect("director", on=node), await connect("staff02", on=node)

    _, sent = await send_card(http, node, flaky_app, card_to("director", "staff02"))
    card_id = sent["card_id"]
    reply = await director.ok("card:act", act(card_id, 1))
    delivery_id = reply["card"]["timeline"][0]["callback"]["delivery_id"]
    for attempt, delay in ((1, 2.0), (2, 4.0)):
        await flaky.wait_hits(attempt)
        await retry_scheduled(node, delivery_id, delay)
        await fake_clock.advance(delay - 1)
        await director.ok("ping")
        assert len(flaky.hits) == attempt  # not before its time
        await fake_clock.advance(1)
    await flaky.wait_hits(3)
    started = flaky.hits[0].at
    assert [h.at - started for h in flaky.hits] == [0.0, 2.0, 6.0]
    assert len({h.payload["delivery_id"] for h in flaky.hits}) == 1
    update = await watcher.wait_for("card:update", callback_state("delivered", card_id))
    assert update["card"]["status"] == "approve"  # the answer named no status
    assert update["card"]["timeline"][0]["callback"]["message"] == "已登记"
    assert update["card"]["timeline"][0]["callback"]["attempts"] == 3

    _, sent = await send_card(http, node, down_app, card_to("director", "staff02"))
    card_id = sent["card_id"]
    reply = await director.ok("card:act", act(card_id, 1, action="reject", comment="不批"))
    delivery_id = reply["card"]["timeline"][0]["callback"]["delivery_id"]
    await down.wait_hits(1)  # it never answers: the node gives up after its timeout
    await retry_scheduled(node, delivery_id, 2.0)
    await fake_clock.advance(2)
    await down.wait_hits(2)
    await retry_scheduled(node, delivery_id, 4.0)
    await fake_clock.advance(4)
    await down.wait_hits(3)
    for client in (director, watcher):
        update = await client.wait_for("card:update", callback_state("failed", card_id))
        callback = update["card"]["timeline"][0]["callback"]
        assert update["card"]["status"] == "callback_failed"
        assert callback["attempts"] == 3 and "after 3 attempts: HTTP 503" in callback["message"]
    await fake_clock.advance(3600)
    await director.ok("ping")
    assert len(down.hits) == 3


async def test_one_due_callback_is_sent_once_when_two_nodes_sweep(
        start_node: NodeFactory, fake_clock: FakeClock, connect: Connect,
        http: aiohttp.ClientSession, receivers: Callable[..., Any]) -> None:
    node_a = await start_node(clock=fake_clock, access_token_ttl=30 * 86400.0)
    node_b = await start_node(clock=fake_clock, access_token_ttl=30 * 86400.0,
                              node_id="node-b")
    receiver = await receivers(fake_clock.time)
    app = await register(Api(node_a.url, http), receiver)
    receiver.replies = [(500, {}), (200, {"status": "done"})]
    director = await connect("director", on=node_b)
    _, sent = await send_card(http, node_a, app, card_to("director"))
    reply = await director.ok("card:act", act(sent["card_id"], 1))
    delivery_id = reply["card"]["timeline"][0]["callback"]["delivery_id"]
    await receiver.wait_hits(1)
    await retry_scheduled(node_a, delivery_id, 2.0)
    await fake_clock.advance(2)
    senders = [n.services.integration.sender for n in (node_a, node_b)]
    await asyncio.gather(*(s.run_due() for s in senders * 3))
    await director.wait_for("card:update", callback_state("delivered", sent["card_id"]))
    await director.ok("ping")
    assert len(receiver.hits) == 2


# --- signed requests -----------------------------------------------------------------------

async def test_requests_with_a_bad_signature_or_a_skewed_clock_are_refused(
        node: Node, api: Api, http: aiohttp.ClientSession,
        receivers: Callable[..., Any]) -> None:
    app = await register(api, await receivers())
    card = card_to("staff01")
    body = json.dumps(card).encode()
    now = node.clock.time()

    async def refused(**kwargs: Any) -> str:
        status, answer = await send_card(http, node, app, card, **kwargs)
        assert status == 401 and answer["error"]["code"] == "unauthorized", answer
        return str(answer["error"]["message"])

    await refused(headers={})
    await refused(headers=signed_headers("app_ffffffffffffffff", app["secret"], body, now))
    await refused(secret="not-the-secret")
    tampered = signed_headers(app["app_id"], app["secret"], body, now)
    await refused(headers=tampered, raw=body.replace(b"staff01", b"staff02"))
    await refused(headers={**tampered, "X-Xietong-Timestamp": "soon"})
    # Whole seconds on the wire and a clock that moves during the request: a few seconds of
    # margin past the 300 s limit (the SDK test pins the limit itself exactly).
    for skew in (-305, 305, 3600):
        assert "skew" in await refused(now=now + skew)
    assert (await send_card(http, node, app, card, now=now - 290))[0] == 201

    status, rotated = await api.call("POST", f"/api/v1/apps/{app['app_id']}/secret",
                                     token=await api.token("admin"))
    assert status == 200 and rotated["secret"] != app["secret"]
    await refused()
    assert (await send_card(http, node, app, card, secret=rotated["secret"]))[0] == 201


def test_the_sdk_verifies_signatures_and_refuses_a_skew_over_five_minutes() -> None:
    body = b'{"event":"card.act","card_id":"c1"}'
    headers = signed_headers("app_1", "s3cret", body, now=1_800_000_000)
    lowered = {k.lower(): v for k, v in headers.items()}
    assert verify("s3cret", lowered, body, now=1_800_000_000 + 300) == 1_800_000_000
    with pytest.raises(BadSignature):
        verify("other", headers, body, now=1_800_000_000)
    with pytest.raises(BadSignature):
        verify("s3cret", headers, body + b" ", now=1_800_000_000)
    for skew in (301, -301):
        with pytest.raises(StaleTimestamp, match="at most 300 s"):
            verify("s3cret", headers, body, now=1_800_000_000 + skew)
    with pytest.raises(StaleTimestamp):
        verify("s3cret", {"X-Xietong-Signature": headers["X-Xietong-Signature"]}, body)


# --- administration and payloads ----------------------------------------------------------

async def test_only_admins_register_list_and_rotate_apps(
        node: Node, api: Api, receivers: Callable[..., Any]) -> None:
    receiver = await receivers()
    admin, staff = await api.token("admin"), await api.token("staff01")
    registration = {"name": "公文系统", "callback_url": receiver.url}
    for method, path, body in (("POST", "/api/v1/apps", registration),
                               ("GET", "/api/v1/apps", None),
                               ("POST", "/api/v1/apps/app_x/secret", None)):
        status, answer = await api.call(method, path, body, token=staff)
        assert status == 403 and answer["error"]["code"] == "forbidden", answer
        assert (await api.call(method, path, body))[0] == 401
    status, made = await api.call("POST", "/api/v1/apps", registration, token=admin)
    assert status == 201 and set(made) >= {"app_id", "secret", "name", "callback_url"}
    stored = await node.db["oa_apps"].find_one({"_id": made["app_id"]})
    assert stored is not None and made["secret"] not in repr(stored)  # sealed at rest
    status, listed = await api.call("GET", "/api/v1/apps", token=admin)
    assert status == 200 and [a["app_id"] for a in listed["apps"]] == [made["app_id"]]
    assert "secret" not in listed["apps"][0] and listed["apps"][0]["name"] == "公文系统"
    status, missing = await api.call("POST", "/api/v1/apps/app_nope/secret", token=admin)
    assert status == 404 and missing["error"]["code"] == "not_found"
    for bad, field in (({"name": "", "callback_url": receiver.url}, "name"),
                       ({"name": "x" * 101, "callback_url": receiver.url}, "name"),
                       ({"name": "a", "callback_url": "ftp://127.0.0.1/x"}, "callback_url"),
                       ({"name": "a", "callback_url": "http:///x"}, "callback_url"),
                       ({"name": "a"}, "callback_url"),
                       ({**registration, "secret": "mine"}, "secret")):
        status, answer = await api.call("POST", "/api/v1/apps", bad, token=admin)
        assert status == 400 and answer["error"]["message"].startswith(field), answer


async def test_bad_cards_are_refused_naming_the_field(
        node: Node, api: Api, http: aiohttp.ClientSession,
        receivers: Callable[..., Any]) -> None:
    app = await register(api, await receivers())
    good = card_to("director", "staff01")
    select = {"id": "pick", "type": "select"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({**good, "to": []}, "to"),
        ({**good, "to": ["director", "director"]}, "to"),
        ({**good, "to": ["director", "ghost"]}, "to"),
        ({**good, "to": [f"u{n}" for n in range(5001)]}, "to"),
        ({**good, "title": ""}, "title"),
        ({**good, "title": "长" * 201}, "title"),
        ({**good, "mode": "some"}, "mode"),
        ({**good, "actors": ["staff02"]}, "actors"),
        ({**good, "external_id": "x" * 201}, "external_id"),
        ({**good, "fields": [{"label": "a", "value": "b"}] * 51}, "fields"),
        ({**good, "actions": [{**APPROVE, "id": f"a{n}"} for n in range(6)]}, "actions"),
        ({**good, "actions": [APPROVE, APPROVE]}, "actions"),
        ({**good, "actions": [{**APPROVE, "style": "fancy"}]}, "actions.0.style"),
        ({**good, "actions": [{**APPROVE, "inputs": [select]}]}, "actions.0.inputs.0"),
        ({**good, "colour": "red"}, "colour"),
    ]
    for card, field in cases:
        status, answer = await send_card(http, node, app, card)
        assert status == 400 and answer["error"]["code"] == "bad_request", (field, answer)
        assert answer["error"]["message"].startswith(field), (field, answer)
    status, answer = await send_card(http, node, app, None, raw=b"{not json")
    assert status == 400 and "JSON" in answer["error"]["message"]
    assert await node.db["cards"].count_documents({"kind": "app"}) == 0
    assert (await send_card(http, node, app, {"to": ["staff01"], "title": "通知"}))[0] == 201


async def test_one_external_id_makes_one_card_even_when_requests_race(
        node: Node, api: Api, connect: Connect, http: aiohttp.ClientSession,
        receivers: Callable[..., Any]) -> None:
    first_app = await register(api, await receivers(), "甲")
    other_app = await register(api, await receivers(), "乙")
    staff = await connect("staff03")
    card = card_to("staff03", "director", external_id="DOC-2026-001")
    answers = await asyncio.gather(*(send_card(http, node, first_app, card) for _ in range(6)))
    assert sorted(status for status, _ in answers) == [200] * 5 + [201]
    assert len({body["card_id"] for _, body in answers}) == 1
    assert {body["holders"] for _, body in answers} == {2}
    card_id = answers[0][1]["card_id"]
    again = await send_card(http, node, first_app, card)
    assert again == (200, {"card_id": card_id, "holders": 2})
    status, theirs = await send_card(http, node, other_app, card)
    assert status == 201 and theirs["card_id"] != card_id
    await card_message(staff, theirs["card_id"])
    history = (await staff.ok("msg:history", {"conv_id": "n:staff03"}))["messages"]
    assert sorted(m["card"]["card_id"] for m in history if m["type"] == "card") == sorted(
        [card_id, theirs["card_id"]])
    assert await node.db["cards"].count_documents({"kind": "app"}) == 2


async def test_a_card_without_actions_is_information_only(
        node: Node, api: Api, connect: Connect, http: aiohttp.ClientSession,
        receivers: Callable[..., Any]) -> None:
    app = await register(api, await receivers())
    staff = await connect("staff04")
    status, sent = await send_card(http, node, app, {"to": ["staff04"], "title": "停电通知"})
    assert status == 201
    shown = await card_message(staff, sent["card_id"])
    assert shown["status"] == "info" and shown["actions"] == []
    assert error_code(await staff.call("card:act", act(sent["card_id"], 1))) == "forbidden"
