"""Sensitive form fields (ID-card and phone numbers): sealed at rest under FIELD_KEY, shown
whole to the people of the flow, masked (脱敏) for anyone else, in the audit log and in logs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from core.config import ConfigError, load_config
from core.crypto import CipherError, FieldCipher, key_from_file, new_key_text, parse_key
from core.masking import MaskingFilter, mask
from tests.chat_helpers import error_code
from tests.conftest import FIELD_KEY, Api, Connect
from tests.flow_helpers import card_message, decide, leave, titled

PHONE = "13812345678"
ID_NUMBER = "11010519491231002X"


def trip(**extra: Any) -> dict[str, Any]:
    return {"flow": "trip", "form": {"basis": "省厅通知", "start": "2026-12-01",
                                     "end": "2026-12-02", "destination": "沈阳",
                                     "transport": "train", **extra}}


def values(card: dict[str, Any]) -> dict[str, str]:
    return {f["label"]: f["value"] for f in card["fields"]}


async def test_the_people_of_a_flow_see_the_numbers_and_the_database_holds_them_sealed(
        node, connect: Connect, api: Api) -> None:  # type: ignore[no-untyped-def]
    staff, director = [await connect(u) for u in ("staff02", "director")]
    started = await staff.ok("flow:start", trip(id_number=ID_NUMBER.lower(), phone=PHONE))
    card_id = started["card_id"]
    assert values(started["card"])["身份证号"] == ID_NUMBER
    arrived = await director.wait_for("msg:new", card_message(card_id))
    seen = values(arrived["message"]["card"])
    assert (seen["身份证号"], seen["联系电话"]) == (ID_NUMBER, PHONE)

    stored = await node.db["cards"].find_one({"_id": card_id})
    assert PHONE not in repr(stored) and ID_NUMBER not in repr(stored)
    assert stored["meta"]["form"]["phone"] == mask("phone", PHONE) == "138****5678"
    status, body = await api.call("GET", f"/api/v1/flows/{card_id}/audit",
                                  token=await api.token("admin"))
    assert status == 200 and body["verified"] is True
    submitted = body["entries"][0]["detail"]["form"]
    assert (submitted["id_number"], submitted["phone"]) == ("110***********002X",
                                                            "138****5678")


async def test_a_superior_told_of_an_overdue_step_sees_the_numbers_masked(
        start_node, connect: Connect, fake_clock) -> None:  # type: ignore[no-untyped-def]
    node = await start_node(clock=fake_clock, access_token_ttl=30 * 86400.0)
    staff, deputy = [await connect(u, on=node) for u in ("staff03", "deputy")]
    await staff.ok("flow:start", leave(1, phone=PHONE))
    await fake_clock.advance(24 * 3600 + 6)
    overdue = await deputy.wait_for("msg:new", titled("逾期"))
    field = next(f for f in overdue["message"]["card"]["fields"] if f["label"] == "假期联系电话")
    assert field == {"label": "假期联系电话", "value": "138****5678", "sensitive": "phone",
                     "masked": True}


async def test_malformed_numbers_are_refused_by_field(connect: Connect) -> None:
    staff = await connect("staff02")
    for extra, name in (({"id_number": "110105194912310021"}, "form.id_number"),
                        ({"id_number": "12345"}, "form.id_number"),
                        ({"phone": "1234"}, "form.phone")):
        reply = await staff.call("flow:start", trip(**extra))
        assert error_code(reply) == "bad_request" and name in reply["error"]["message"]


async def test_approving_does_not_need_the_numbers_to_be_shown(connect: Connect) -> None:
    staff, director = [await connect(u) for u in ("staff02", "director")]
    card_id = (await staff.ok("flow:start", leave(1, phone=PHONE)))["card_id"]
    assert (await decide(director, card_id))["status"] == "approved"
    notice = await staff.wait_for("msg:new", titled("已办结"))
    assert values(notice["message"]["card"])["假期联系电话"] == PHONE


def test_a_value_sealed_under_one_key_opens_only_under_it() -> None:
    mine, other = FieldCipher(parse_key(FIELD_KEY)), FieldCipher(parse_key(new_key_text()))
    sealed = mine.seal(PHONE)
    assert PHONE not in sealed and mine.seal(PHONE) != sealed  # a fresh nonce each time
    assert mine.open(sealed) == PHONE
    with pytest.raises(CipherError):
        other.open(sealed)
    with pytest.raises(CipherError):
        mine.open(sealed[:-4] + "AAAA")


def test_the_embedded_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    first = key_from_file(tmp_path)
    assert key_from_file(tmp_path) == first
    assert (tmp_path / "field.key").stat().st_mode & 0o077 == 0


def test_a_malformed_field_key_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="FIELD_KEY"):
        load_config({"FIELD_KEY": "c2hvcnQ="})
    assert load_config({"FIELD_KEY": FIELD_KEY}).field_key == FIELD_KEY


async def test_a_node_on_an_external_database_needs_a_field_key(
        start_node) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="FIELD_KEY is required"):
        await start_node(field_key=None)


def test_logs_never_hold_a_whole_id_card_or_mobile_number() -> None:
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Keep()
    handler.addFilter(MaskingFilter())
    logger = logging.getLogger("xietong.test.masking")
    logger.addHandler(handler)
    try:
        logger.warning("form %s from %s", {"phone": PHONE}, ID_NUMBER)
        try:
            raise ValueError(f"bad number {PHONE}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = "\n".join(records)
    assert "138****5678" in text and "110***********002X" in text
    assert PHONE not in text and ID_NUMBER not in text
