"""Chat (docs/protocol.md §3): `client.conversations` and `client.chat`."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from typing import cast

from xietong_sdk.base import Area, fields
from xietong_sdk.models import (
    ChangesPage,
    Conversation,
    InboxEntry,
    Message,
    MessagePage,
    ReadCursor,
    Readers,
    SearchHit,
    StoredFile,
)


def new_client_msg_id() -> str:
    return uuid.uuid4().hex


class Conversations(Area):
    async def create_direct(self, peer: str) -> Conversation:
        """The pair's one direct conversation (the existing one if there is one)."""
        data = await self._call("conv:create", {"type": "direct", "members": [peer]},
                                retry=True)
        return cast(Conversation, data["conversation"])

    async def create_group(self, members: Sequence[str], title: str | None = None
                           ) -> Conversation:
        data = await self._call("conv:create", fields(type="group", members=list(members),
                                                      title=title))
        return cast(Conversation, data["conversation"])

    async def create_department(self, dept_id: str, title: str | None = None) -> Conversation:
        data = await self._call("conv:create", fields(type="department", dept_id=dept_id,
                                                      title=title), retry=True)
        return cast(Conversation, data["conversation"])

    async def list(self) -> builtins.list[InboxEntry]:
        """Every conversation with `last_seq`, `read_seq`, `unread`, most recent first."""
        data = await self._call("conv:list", {}, retry=True)
        return cast(builtins.list[InboxEntry], data["conversations"])

    async def get(self, conv_id: str) -> Conversation:
        data = await self._call("conv:get", {"conv_id": conv_id}, retry=True)
        return cast(Conversation, data["conversation"])

    async def update(self, conv_id: str, *, title: str | None = None,
                     announcement: str | None = None,
                     open_history: bool | None = None) -> Conversation:
        data = await self._call("conv:update", fields(
            conv_id=conv_id, title=title, announcement=announcement, open_history=open_history))
        return cast(Conversation, data["conversation"])

    async def add_members(self, conv_id: str, user_ids: Sequence[str]) -> Conversation:
        data = await self._call("conv:members:add", {"conv_id": conv_id,
                                                     "user_ids": list(user_ids)})
        return cast(Conversation, data["conversation"])

    async def remove_members(self, conv_id: str, user_ids: Sequence[str]) -> Conversation:
        data = await self._call("conv:members:remove", {"conv_id": conv_id,
                                                        "user_ids": list(user_ids)})
        return cast(Conversation, data["conversation"])

    async def leave(self, conv_id: str) -> None:
        await self._call("conv:leave", {"conv_id": conv_id})

    async def set_admin(self, conv_id: str, user_id: str, admin: bool = True) -> Conversation:
        data = await self._call("conv:admin", {"conv_id": conv_id, "user_id": user_id,
                                               "admin": admin})
        return cast(Conversation, data["conversation"])

    async def transfer(self, conv_id: str, user_id: str) -> Conversation:
        data = await self._call("conv:transfer", {"conv_id": conv_id, "user_id": user_id})
        return cast(Conversation, data["conversation"])

    async def dissolve(self, conv_id: str) -> None:
        await self._call("conv:dissolve", {"conv_id": conv_id})


class Chat(Area):
    async def send(self, conv_id: str, text: str, *, mentions: Sequence[str] | None = None,
                   urgent: bool | None = None, client_msg_id: str | None = None) -> Message:
        """A text message. `client_msg_id` (made up when not given) makes it idempotent, so
        a send cut off by a dropped connection is sent again once reconnected."""
        return await self._send(fields(conv_id=conv_id, type="text", text=text,
                                       mentions=list(mentions) if mentions else None,
                                       urgent=urgent,
                                       client_msg_id=client_msg_id or new_client_msg_id()))

    async def send_file(self, conv_id: str, file_id: str, caption: str = "", *,
                        client_msg_id: str | None = None) -> Message:
        """Post a file uploaded with `upload` (its caption in `text`)."""
        return await self._send({"conv_id": conv_id, "type": "file", "file_id": file_id,
                                 "text": caption,
                                 "client_msg_id": client_msg_id or new_client_msg_id()})

    async def _send(self, payload: dict[str, object]) -> Message:
        data = await self._call("msg:send", payload, retry=True)
        return cast(Message, data["message"])

    async def upload(self, conv_id: str, name: str, data: bytes) -> StoredFile:
        """Upload a file into a conversation over REST (members only)."""
        return await self._rest.upload_file(conv_id, name, data)

    async def download(self, file_id: str) -> bytes:
        return await self._rest.download_file(file_id)

    async def history(self, conv_id: str, *, before_seq: int | None = None,
                      limit: int | None = None) -> MessagePage:
        """Newest first; page with `before_seq` while `has_more`."""
        data = await self._call("msg:history", fields(conv_id=conv_id, before_seq=before_seq,
                                                      limit=limit), retry=True)
        return cast(MessagePage, data)

    async def sync(self, cursors: dict[str, int], limit: int | None = None) -> MessagePage:
        """Messages after each conversation's seq (the client does this by itself on
        every reconnect)."""
        data = await self._call("msg:sync", fields(cursors=cursors, limit=limit), retry=True)
        return cast(MessagePage, data)

    async def changes(self, cursor: str | None = None, limit: int | None = None
                      ) -> ChangesPage:
        data = await self._call("changes:since", fields(cursor=cursor, limit=limit),
                                retry=True)
        return cast(ChangesPage, data)

    async def edit(self, msg_id: str, text: str) -> Message:
        data = await self._call("msg:edit", {"msg_id": msg_id, "text": text})
        return cast(Message, data["message"])

    async def recall(self, msg_id: str) -> Message:
        """The recalled stub (recalling twice answers the same one)."""
        data = await self._call("msg:recall", {"msg_id": msg_id}, retry=True)
        return cast(Message, data["message"])

    async def read(self, conv_id: str, seq: int) -> int:
        """Move the read cursor; answers the cursor after the call (it only moves on)."""
        data = await self._call("msg:read", {"conv_id": conv_id, "seq": seq}, retry=True)
        return int(cast(ReadCursor, data)["read_seq"])

    async def readers(self, msg_id: str, conv_id: str | None = None) -> Readers:
        data = await self._call("msg:readers", fields(conv_id=conv_id, msg_id=msg_id),
                                retry=True)
        return cast(Readers, data)

    async def ack(self, msg_id: str) -> None:
        """Acknowledge an urgent message (DING)."""
        await self._call("msg:ack", {"msg_id": msg_id}, retry=True)

    async def search(self, q: str, *, conv_id: str | None = None,
                     limit: int | None = None) -> list[SearchHit]:
        data = await self._call("msg:search", fields(q=q, conv_id=conv_id, limit=limit),
                                retry=True)
        return cast(list[SearchHit], data["results"])

    async def typing(self, conv_id: str) -> None:
        await self._call("typing", {"conv_id": conv_id})
