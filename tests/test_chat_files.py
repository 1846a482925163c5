"""File messages: GridFS upload and download, sniffed types, size limit, members only."""

from __future__ import annotations

import aiohttp

from chat.sniff import sniff
from tests.chat_helpers import direct, send
from tests.conftest import Api, Connect, NodeFactory

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def upload(api: Api, token: str, conv_id: str, name: str, data: bytes,
                 claimed: str = "text/plain") -> tuple[int, dict]:  # type: ignore[type-arg]
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type=claimed)
    async with api.session.post(f"{api.base}/api/v1/files?conv_id={conv_id}", data=form,
                                headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status, await response.json()


async def download(api: Api, token: str, file_id: str) -> tuple[int, bytes, dict[str, str]]:
    async with api.session.get(f"{api.base}/api/v1/files/{file_id}",
                               headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status, await response.read(), dict(response.headers)


async def test_a_member_uploads_sends_and_another_member_downloads(api: Api,
                                                                   connect: Connect) -> None:
    a, b = await connect("staff01"), await connect("staff02")
    conv_id = await direct(a, "staff02")
    token_a, token_b = await api.token("staff01"), await api.token("staff02")
    status, body = await upload(api, token_a, conv_id, "../../会议纪要.png", PNG)
    assert status == 201, body
    file = body["file"]
    assert file["name"] == "会议纪要.png" and file["size"] == len(PNG)
    assert file["content_type"] == "image/png"  # sniffed, not the text/plain claimed
    sent = await send(a, conv_id, "", type="file", file_id=file["id"])
    assert sent["file"] == {"id": file["id"], "name": "会议纪要.png", "size": len(PNG),
                            "content_type": "image/png"}
    pushed = await b.wait_for("msg:new", lambda d: d["message"]["type"] == "file")
    assert pushed["message"]["file"]["id"] == file["id"]
    status, data, headers = await download(api, token_b, file["id"])
    assert status == 200 and data == PNG
    assert headers["Content-Type"] == "image/png"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "attachment" in headers["Content-Disposition"]


async def test_non_members_neither_upload_to_nor_download_from_a_conversation(
        api: Api, connect: Connect) -> None:
    a = await connect("staff01")
    conv_id = await direct(a, "staff02")
    status, body = await upload(api, await api.token("staff01"), conv_id, "a.txt", b"hello")
    assert status == 201
    outsider = await api.token("staff09")
    status, _, _ = await download(api, outsider, body["file"]["id"])
    assert status == 403
    status, denied = await upload(api, outsider, conv_id, "b.txt", b"x")
    assert status == 403 and denied["error"]["code"] == "forbidden"
    status, _, _ = await download(api, outsider, "nope")
    assert status == 404
    status, _, _ = await download(api, "", body["file"]["id"])
    assert status == 401


async def test_an_upload_over_the_limit_is_refused(start_node: NodeFactory, http) -> None:  # type: ignore[no-untyped-def]
    node = await start_node(file_max_bytes=1000)
    api = Api(node.url, http)
    token = await api.token("staff01")
    conv = await _create_direct(node, token)
    status, body = await upload(api, token, conv, "big.bin", b"\x00" * 1001)
    assert status == 413 and body["error"]["code"] == "too_large"
    status, body = await upload(api, token, conv, "fits.bin", b"\x00" * 1000)
    assert status == 201 and body["file"]["content_type"] == "application/octet-stream"


async def _create_direct(node, token: str) -> str:  # type: ignore[no-untyped-def]
    import socketio

    client = socketio.AsyncClient(reconnection=False)
    await client.connect(node.url, auth={"token": token}, transports=["websocket"])
    try:
        reply = await client.call("conv:create", {"type": "direct", "members": ["staff02"]})
        return str(reply["data"]["conversation"]["id"])
    finally:
        await client.disconnect()


async def test_a_file_message_needs_a_file_the_sender_uploaded_here(api: Api,
                                                                    connect: Connect) -> None:
    a, b = await connect("staff01"), await connect("staff02")
    conv_id = await direct(a, "staff02")
    _, body = await upload(api, await api.token("staff01"), conv_id, "a.txt", b"hi")
    reply = await b.call("msg:send", {"conv_id": conv_id, "client_msg_id": "f", "type": "file",
                                      "file_id": body["file"]["id"]})
    assert reply["error"]["code"] == "forbidden"
    reply = await a.call("msg:send", {"conv_id": conv_id, "client_msg_id": "g", "type": "file"})
    assert reply["error"]["code"] == "bad_request"


async def test_recalling_a_file_message_deletes_the_file(api: Api, connect: Connect) -> None:
    a = await connect("staff01")
    conv_id = await direct(a, "staff02")
    token = await api.token("staff01")
    _, body = await upload(api, token, conv_id, "draft.txt", "草稿".encode())
    sent = await send(a, conv_id, "", type="file", file_id=body["file"]["id"])
    await a.ok("msg:recall", {"msg_id": sent["id"]})
    status, _, _ = await download(api, token, body["file"]["id"])
    assert status == 404


def test_content_types_are_sniffed_from_the_bytes() -> None:
    assert sniff(PNG) == "image/png"
    assert sniff(b"%PDF-1.7\n") == "application/pdf"
    assert sniff(b"\xff\xd8\xff\xe0") == "image/jpeg"
    assert sniff(b"PK\x03\x04" + b"\x00" * 26 + b"word/document.xml").endswith(
        "wordprocessingml.document")
    assert sniff("公文正文".encode()) == "text/plain; charset=utf-8"
    assert sniff("公文".encode()[:-1]) == "text/plain; charset=utf-8"  # cut mid-character
    assert sniff(b"\x00\x01\x02") == "application/octet-stream"
    assert sniff(b"") == "application/octet-stream"
