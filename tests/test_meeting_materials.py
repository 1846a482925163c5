"""Meeting materials (PROTOCOL §6, materials) through real HTTP and the real socket: hosts upload
per agenda item, members list and download, confidential materials expire when the meeting
is over (at once when a host ends it here, by the sweep otherwise), and the races of uploads,
deletes and downloads with the end."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from gridfs import AsyncGridFSBucket

from signaling.app import Node
from tests.conftest import Api, Client, Connect, NodeFactory

PDF = b"%PDF-1.7\n" + b"\x00" * 100 + "会议材料".encode()


async def create(host: Client, invitees: list[str], confidential: bool = False,
                 **extra: Any) -> dict[str, Any]:
    created = await host.ok("meeting:create", {
        "title": "党组会", "invitees": invitees, "confidential": confidential,
        "agenda": [{"title": "预算执行情况"}, {"title": "人事事项"}], **extra})
    return created["meeting"]  # type: ignore[no-any-return]


async def upload(api: Api, token: str, meeting_id: str, item_id: str, name: str,
                 data: bytes | AsyncIterator[bytes]) -> tuple[int, Any]:
    form = aiohttp.FormData()
    # A large body goes as a file object (aiohttp warns about large raw bytes).
    body = io.BytesIO(data) if isinstance(data, bytes) and len(data) > 100_000 else data
    form.add_field("file", body, filename=name, content_type="text/plain")
    async with api.session.post(
            f"{api.base}/api/v1/meetings/{meeting_id}/materials?item_id={item_id}", data=form,
            headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status, await response.json()


async def upload_raw(api: Api, token: str, meeting_id: str, query: str,
                     data: bytes | AsyncIterator[bytes]) -> tuple[int, Any]:
    async with api.session.post(
            f"{api.base}/api/v1/meetings/{meeting_id}/materials?{query}", data=data,
            headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status, await response.json()


async def download(api: Api, token: str, meeting_id: str,
                   material_id: str) -> tuple[int, bytes, dict[str, str]]:
    async with api.session.get(
            f"{api.base}/api/v1/meetings/{meeting_id}/materials/{material_id}",
            headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status, await response.read(), dict(response.headers)


async def listing(api: Api, token: str, meeting_id: str) -> tuple[int, Any]:
    return await api.call("GET", f"/api/v1/meetings/{meeting_id}/materials", token=token)


async def delete(api: Api, token: str, meeting_id: str, material_id: str) -> tuple[int, Any]:
    return await api.call("DELETE", f"/api/v1/meetings/{meeting_id}/materials/{material_id}",
                          token=token)


async def files_in_bucket(node: Node, meeting_id: str) -> list[str]:
    bucket = AsyncGridFSBucket(node.db, bucket_name="materials")
    return [f._id for f in await bucket.find({"metadata.meeting_id": meeting_id}).to_list()]


def error_code(body: Any) -> str:
    return str(body["error"]["code"])


async def test_a_host_uploads_to_agenda_items_and_an_invitee_lists_and_downloads_the_bytes(
        api: Api, connect: Connect) -> None:
    chief, clerk = await connect("chief"), await connect("clerk")
    meeting = await create(chief, ["clerk"])
    first, second = (item["id"] for item in meeting["agenda"])
    host, invitee = await api.token("chief"), await api.token("clerk")
    status, body = await upload(api, host, meeting["id"], second, "人事/../任免名单.txt",
                                "张三\n李四".encode())
    assert status == 201, body
    status, body = await upload(api, host, meeting["id"], first, "预算 报告.pdf", PDF)
    assert status == 201, body
    material = body["material"]
    assert material["item_id"] == first and material["item_title"] == "预算执行情况"
    assert material["name"] == "预算 报告.pdf" and material["size"] == len(PDF)
    assert material["content_type"] == "application/pdf"  # sniffed, not the text/plain sent
    assert material["uploaded_by"] == "chief" and material["downloadable"] is True
    assert material["expired"] is False and material["uploaded_at"].endswith("Z")
    await clerk.wait_for("meeting:materials", lambda d: d["meeting_id"] == meeting["id"])

    status, listed = await listing(api, invitee, meeting["id"])
    assert status == 200, listed
    # Grouped in agenda order, whatever order they were uploaded in.
    assert [(m["item_id"], m["name"]) for m in listed["materials"]] == [
        (first, "预算 报告.pdf"), (second, "任免名单.txt")]
    assert listed["materials"][1]["content_type"] == "text/plain; charset=utf-8"

    status, data, headers = await download(api, invitee, meeting["id"], material["id"])
    assert status == 200 and data == PDF
    assert headers["Content-Type"] == "application/pdf"
    assert headers["Content-Disposition"] == (
        "attachment; filename*=UTF-8''%E9%A2%84%E7%AE%97%20%E6%8A%A5%E5%91%8A.pdf")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in headers["Cache-Control"]


async def test_only_hosts_upload_or_delete_and_a_co_host_is_a_host(api: Api,
                                                                    connect: Connect) -> None:
    chief = await connect("chief")
    meeting = await create(chief, ["clerk"], hosts=["deputy"])
    item = meeting["agenda"][0]["id"]
    invitee = await api.token("clerk")
    status, body = await upload(api, invitee, meeting["id"], item, "a.txt", b"x")
    assert status == 403 and error_code(body) == "forbidden"
    status, body = await upload(api, await api.token("deputy"), meeting["id"], item, "a.txt",
                                b"by the co-host")
    assert status == 201, body
    material_id = body["material"]["id"]
    status, body = await delete(api, invitee, meeting["id"], material_id)
    assert status == 403 and error_code(body) == "forbidden"
    status, _, _ = await download(api, invitee, meeting["id"], material_id)
    assert status == 200


async def test_outsiders_neither_list_nor_download_materials(api: Api, node: Node,
                                                             connect: Connect) -> None:
    chief = await connect("chief")
    meeting = await create(chief, ["clerk"])
    _, body = await upload(api, await api.token("chief"), meeting["id"],
                           meeting["agenda"][0]["id"], "a.txt", b"secret")
    outsider = await api.token("staff09")
    status, denied = await listing(api, outsider, meeting["id"])
    assert status == 403 and error_code(denied) == "forbidden"
    status, _, _ = await download(api, outsider, meeting["id"], body["material"]["id"])
    assert status == 403
    status, _, _ = await download(api, "", meeting["id"], body["material"]["id"])
    assert status == 401


async def test_a_member_removed_by_a_host_no_longer_sees_the_materials(
        api: Api, connect: Connect) -> None:
    chief = await connect("chief")
    meeting = await create(chief, ["clerk"])
    await chief.ok("meeting:remove", {"meeting_id": meeting["id"], "user_id": "clerk"})
    status, denied = await listing(api, await api.token("clerk"), meeting["id"])
    assert status == 403 and error_code(denied) == "forbidden"


async def test_unknown_items_meetings_and_materials_are_not_found_and_names_are_checked(
        api: Api, node: Node, connect: Connect) -> None:
    chief = await connect("chief")
    meeting = await create(chief, ["clerk"])
    host = await api.token("chief")
    status, body = await upload(api, host, meeting["id"], "item_nope", "a.txt", b"x")
    assert status == 404 and error_code(body) == "not_found"
    status, body = await upload(api, host, "mtg_nope", "item_nope", "a.txt", b"x")
    assert status == 404
    status, _, _ = await download(api, host, meeting["id"], "mat_nope")
    assert status == 404
    status, body = await delete(api, host, meeting["id"], "mat_nope")
    assert status == 404
    item = meeting["agenda"][0]["id"]
    status, body = await upload_raw(api, host, meeting["id"], "", b"x")
    assert status == 400 and "item_id" in body["error"]["message"]
    status, body = await upload_raw(api, host, meeting["id"], f"item_id={item}", b"x")
    assert status == 400 and body["error"]["message"].startswith("name")  # raw body: no name
    status, body = await upload_raw(api, host, meeting["id"], f"item_id={item}&name=..", b"x")
    assert status == 400
    status, body = await upload_raw(api, host, meeting["id"], f"item_id={item}&name=%0A%09",
                                    b"x")
    assert status == 400
    status, body = await upload_raw(api, host, meeting["id"], f"item_id={item}&name=a.txt",
                                    b"raw")
    assert status == 201 and body["material"]["name"] == "a.txt"
    status, listed = await listing(api, host, meeting["id"])
    assert [m["name"] for m in listed["materials"]] == ["a.txt"]  # refused ones left nothing
    assert await files_in_bucket(node, meeting["id"]) == [body["material"]["id"]]


async def test_an_upload_over_the_size_limit_is_refused_and_leaves_nothing(
        start_node: NodeFactory, http: aiohttp.ClientSession, clients: Any) -> None:
    node = await start_node(file_max_bytes=1000)
    api = Api(node.url, http)
    chief = clients(node.url)
    await chief.connect(await api.token("chief"))
    meeting = await create(chief, ["clerk"])
    host, item = await api.token("chief"), meeting["agenda"][0]["id"]
    status, body = await upload(api, host, meeting["id"], item, "big.bin", b"\x00" * 1001)
    assert status == 413 and error_code(body) == "too_large"
    status, listed = await listing(api, host, meeting["id"])
    assert listed["materials"] == []
    assert await files_in_bucket(node, meeting["id"]) == []
    assert await node.db["meeting_materials"].count_documents({"meeting_id": meeting["id"]}) == 0
    status, body = await upload(api, host, meeting["id"], item, "fits.bin", b"\x00" * 1000)
    assert status == 201


async def test_two_deletes_of_one_material_one_deletes_it_the_other_is_not_found(
        api: Api, node: Node, connect: Connect) -> None:
    chief = await connect("chief")
    meeting = await create(chief, ["clerk"], hosts=["deputy"])
    host = await api.token("chief")
    _, body = await upload(api, host, meeting["id"], meeting["agenda"][0]["id"], "a.txt", b"x")
    material_id = body["material"]["id"]
    answers = await asyncio.gather(delete(api, host, meeting["id"], material_id),
                                   delete(api, await api.token("deputy"), meeting["id"],
                                          material_id))
    assert sorted(status for status, _ in answers) == [200, 404]
    status, _, _ = await download(api, host, meeting["id"], material_id)
    assert status == 404
    assert (await listing(api, host, meeting["id"]))[1]["materials"] == []
    assert await files_in_bucket(node, meeting["id"]) == []


async def test_confidential_materials_are_gone_once_a_host_ends_the_meeting_and_their_bytes_deleted(
        api: Api, node: Node, connect: Connect) -> None:
    chief, clerk = await connect("chief"), await connect("clerk")
    meeting = await create(chief, ["clerk"], confidential=True)
    host, invitee = await api.token("chief"), await api.token("clerk")
    item = meeting["agenda"][0]["id"]
    _, body = await upload(api, host, meeting["id"], item, "绝密.pdf", PDF)
    material_id = body["material"]["id"]
    status, data, _ = await download(api, invitee, meeting["id"], material_id)
    assert status == 200 and data == PDF  # while the meeting is on
    assert await files_in_bucket(node, meeting["id"]) == [material_id]

    await chief.ok("meeting:end", {"meeting_id": meeting["id"]})
    # Expired by the end itself, not by the sweep (which runs only every minute).
    assert await files_in_bucket(node, meeting["id"]) == []
    for token in (invitee, host):
        status, gone, _ = await download(api, token, meeting["id"], material_id)
        assert status == 410, gone
        assert b"not downloadable after the meeting ends" in gone
    status, listed = await listing(api, invitee, meeting["id"])
    assert status == 200
    [shown] = listed["materials"]
    assert shown["id"] == material_id and shown["name"] == "绝密.pdf"
    assert shown["expired"] is True and shown["downloadable"] is False
    assert shown["expired_at"] is not None
    await clerk.wait_for("meeting:materials",
                         lambda d: d["meeting_id"] == meeting["id"] and
                         len(clerk.received("meeting:materials")) >= 2)
    status, body = await upload(api, host, meeting["id"], item, "late.txt", b"x")
    assert status == 410 and error_code(body) == "gone"
    status, body = await delete(api, host, meeting["id"], material_id)
    assert status == 410


async def test_a_cancelled_confidential_meetings_materials_expire_too(
        api: Api, node: Node, connect: Connect) -> None:
    chief = await connect("chief")
    meeting = await create(chief, ["clerk"], confidential=True)
    host = await api.token("chief")
    _, body = await upload(api, host, meeting["id"], meeting["agenda"][0]["id"], "a.txt", b"x")
    await chief.ok("meeting:cancel", {"meeting_id": meeting["id"]})
    assert await files_in_bucket(node, meeting["id"]) == []
    status, _, _ = await download(api, host, meeting["id"], body["material"]["id"])
    assert status == 410


async def test_an_ordinary_meetings_materials_stay_downloadable_after_it_ends(
        api: Api, node: Node, connect: Connect) -> None:
    chief = await connect("chief")
    meeting = await create(chief, ["clerk"], confidential=False)
    _, body = await upload(api, await api.token("chief"), meeting["id"],
                           meeting["agenda"][1]["id"], "纪要.txt", b"minutes")
    await chief.ok("meeting:end", {"meeting_id": meeting["id"]})
    await node.services.materials.sweep()  # type: ignore[union-attr]
    invitee = await api.token("clerk")
    status, data, _ = await download(api, invitee, meeting["id"], body["material"]["id"])
    assert status == 200 and data == b"minutes"
    [shown] = (await listing(api, invitee, meeting["id"]))[1]["materials"]
    assert shown["downloadable"] is True and shown["expired"] is False


async def test_the_sweep_expires_materials_of_a_confidential_meeting_that_ended_elsewhere(
        api: Api, node: Node, connect: Connect) -> None:
    chief = await connect("chief")
    ended = await create(chief, ["clerk"], confidential=True)
    going_on = await create(chief, ["clerk"], confidential=True)
    host = await api.token("chief")
    uploaded = {}
    for meeting in (ended, going_on):
        _, body = await upload(api, host, meeting["id"], meeting["agenda"][0]["id"], "a.txt",
                               b"confidential")
        uploaded[meeting["id"]] = body["material"]["id"]
    # Ended on another node (or while this one was down): no edge here saw it.
    await node.db["meetings"].update_one({"_id": ended["id"]}, {"$set": {"status": "ended"}})
    status, _, _ = await download(api, host, ended["id"], uploaded[ended["id"]])
    assert status == 410  # refused by the status at once
    assert await files_in_bucket(node, ended["id"]) == [uploaded[ended["id"]]]

    materials = node.services.materials
    assert materials is not None
    assert await materials.sweep() == 1
    assert await files_in_bucket(node, ended["id"]) == []
    [shown] = (await listing(api, host, ended["id"]))[1]["materials"]
    assert shown["expired"] is True and shown["downloadable"] is False
    # A confidential meeting still going on keeps its materials.
    assert await files_in_bucket(node, going_on["id"]) == [uploaded[going_on["id"]]]
    status, data, _ = await download(api, host, going_on["id"], uploaded[going_on["id"]])
    assert status == 200 and data == b"confidential"
    assert await materials.sweep() == 0  # nothing left to do: it is idempotent


async def test_an_upload_arriving_as_a_confidential_meeting_ends_is_refused_and_leaves_nothing(
        api: Api, node: Node, connect: Connect) -> None:
    chief = await connect("chief")
    meeting = await create(chief, ["clerk"], confidential=True)
    host = await api.token("chief")
    release = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield b"first half of the document, "
        await release.wait()
        yield b"second half"

    uploading = asyncio.create_task(upload_raw(
        api, host, meeting["id"], f"item_id={meeting['agenda'][0]['id']}&name=a.txt",
        slow_body()))
    records = node.db["meeting_materials"]
    async with asyncio.timeout(10):
        while await records.count_documents({"meeting_id": meeting["id"]}) == 0:
            await asyncio.sleep(0.02)
    await chief.ok("meeting:end", {"meeting_id": meeting["id"]})
    release.set()
    status, body = await uploading
    assert status == 410 and error_code(body) == "gone", body
    assert (await listing(api, host, meeting["id"]))[1]["materials"] == []
    assert await files_in_bucket(node, meeting["id"]) == []
    assert await records.count_documents({"meeting_id": meeting["id"]}) == 0


async def test_uploads_racing_the_end_of_a_confidential_meeting_leave_no_downloadable_file(
        api: Api, node: Node, connect: Connect) -> None:
    chief = await connect("chief")
    host = await api.token("chief")
    materials = node.services.materials
    assert materials is not None
    outcomes = set()
    for delay in (0.0, 0.005, 0.01, 0.02, 0.04):
        meeting = await create(chief, ["clerk"], confidential=True)
        item = meeting["agenda"][0]["id"]

        async def end_soon(meeting_id: str = meeting["id"], wait: float = delay) -> None:
            await asyncio.sleep(wait)
            await chief.ok("meeting:end", {"meeting_id": meeting_id})

        (status, body), _ = await asyncio.gather(
            upload(api, host, meeting["id"], item, "race.bin", os.urandom(300_000)),
            end_soon())
        assert status in (201, 410), body
        outcomes.add(status)
        await materials.sweep()
        listed = (await listing(api, host, meeting["id"]))[1]["materials"]
        if status == 201:  # stored before the end: listed, expired, its bytes gone
            assert [m["id"] for m in listed] == [body["material"]["id"]]
            assert listed[0]["expired"] is True and listed[0]["downloadable"] is False
            got, _, _ = await download(api, host, meeting["id"], body["material"]["id"])
            assert got == 410
        else:  # refused: nothing of it is kept
            assert listed == []
        assert await files_in_bucket(node, meeting["id"]) == []
    assert outcomes  # (which outcomes occur depends on timing; both are correct)


async def test_a_download_racing_the_end_gets_all_the_bytes_or_gone(
        api: Api, node: Node, connect: Connect) -> None:
    chief = await connect("chief")
    host, invitee = await api.token("chief"), await api.token("clerk")
    data = os.urandom(2_000_000)
    for delay in (0.0, 0.01, 0.03):
        meeting = await create(chief, ["clerk"], confidential=True)
        _, body = await upload(api, host, meeting["id"], meeting["agenda"][0]["id"], "big.bin",
                               data)

        async def end_soon(meeting_id: str = meeting["id"], wait: float = delay) -> None:
            await asyncio.sleep(wait)
            await chief.ok("meeting:end", {"meeting_id": meeting_id})

        (status, got, headers), _ = await asyncio.gather(
            download(api, invitee, meeting["id"], body["material"]["id"]), end_soon())
        assert status in (200, 410)
        if status == 200:
            assert got == data and headers["Content-Length"] == str(len(data))
        status, _, _ = await download(api, invitee, meeting["id"], body["material"]["id"])
        assert status == 410
