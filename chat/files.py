"""Attachments: bytes in GridFS, a record of each file in `attachments`. Only current members
of a file's conversation may download it; a recalled message takes its file with it. A file
uploaded for a card (an incoming document's attachments) belongs to no conversation: its
uploader and the holders of the cards it is attached to may download it."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gridfs import AsyncGridFSBucket, NoFile
from gridfs.asynchronous.grid_file import AsyncGridIn
from pymongo.errors import OperationFailure

from chat.conversations import ConversationService
from chat.models import ConvType
from chat.sniff import sniff
from core.clock import Clock, iso
from core.errors import BadRequest, Forbidden, NotFound, TooLarge
from core.mongo import Database

SNIFF_BYTES = 4096

# Whether a user holds any of these cards: (user_id, card_ids) -> bool.
HoldsCard = Callable[[str, list[str]], Awaitable[bool]]
MAX_NAME = 255


@dataclass(frozen=True)
class Attachment:
    id: str
    conv_id: str | None
    uploader_id: str
    name: str
    size: int
    content_type: str
    created_at: str
    # The cards it is attached to; set only for a file uploaded for cards (conv_id None).
    card_ids: tuple[str, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "conv_id": self.conv_id, "uploader_id": self.uploader_id,
                "name": self.name, "size": self.size, "content_type": self.content_type,
                "created_at": self.created_at}

    def summary(self) -> dict[str, Any]:
        """What a file message carries."""
        return {"id": self.id, "name": self.name, "size": self.size,
                "content_type": self.content_type}


async def write_limited(stream: AsyncGridIn, chunks: AsyncIterator[bytes],
                        max_bytes: int) -> tuple[int, bytes]:
    """Stream the bytes into a GridFS upload; their size and first bytes (to sniff their
    type). `TooLarge` as soon as they pass `max_bytes`, with nothing kept."""
    head = b""
    size = 0
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise TooLarge(f"file: larger than {max_bytes} bytes")
            if len(head) < SNIFF_BYTES:
                head += chunk[:SNIFF_BYTES - len(head)]
            await stream.write(chunk)
    except BaseException:
        # nx-27017 answers the cleanup of a never-written file with an error.
        with contextlib.suppress(OperationFailure):
            await stream.abort()
        raise
    await stream.close()
    return size, head


def clean_name(name: str | None) -> str:
    """A display name without paths or control characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    if not base:
        raise BadRequest("name: the file needs a name")
    return base[:MAX_NAME]


class FileService:
    def __init__(self, db: Database, conversations: ConversationService, clock: Clock,
                 max_bytes: int) -> None:
        self._records = db["attachments"]
        self._bucket = AsyncGridFSBucket(db, bucket_name="attachments")
        self._conversations = conversations
        self._clock = clock
        self.max_bytes = max_bytes
        self._holds_card: HoldsCard | None = None

    def set_card_access(self, holds_card: HoldsCard) -> None:
        self._holds_card = holds_card

    async def upload(self, user_id: str, conv_id: str | None, name: str | None,
                     chunks: AsyncIterator[bytes]) -> Attachment:
        """Into a conversation, or with `conv_id` None for cards."""
        if conv_id is not None:
            conversation, _ = await self._conversations.require_member(conv_id, user_id)
            if conversation.dissolved or conversation.type == ConvType.NOTIFICATIONS:
                raise Forbidden(f"conversation {conv_id} takes no files")
        filename = clean_name(name)
        file_id = uuid.uuid4().hex
        stream = self._bucket.open_upload_stream_with_id(file_id, filename)
        size, head = await write_limited(stream, chunks, self.max_bytes)
        attachment = Attachment(file_id, conv_id, user_id, filename, size, sniff(head),
                                iso(self._clock.now()))
        record = attachment.to_wire()
        record["_id"] = record.pop("id")
        # Present from the start: nx-27017's `$addToSet` cannot create a missing array.
        record["card_ids"] = []
        await self._records.insert_one(record)
        return attachment

    async def get(self, file_id: str) -> Attachment | None:
        doc = await self._records.find_one({"_id": file_id})
        if doc is None:
            return None
        doc["id"] = doc.pop("_id")
        doc["card_ids"] = tuple(doc.get("card_ids") or ())
        return Attachment(**doc)

    async def open(self, user_id: str, file_id: str) -> tuple[Attachment,
                                                              AsyncIterator[bytes]]:
        attachment = await self.get(file_id)
        if attachment is None:
            raise NotFound(f"no file {file_id}")
        if attachment.conv_id is not None:
            await self._conversations.require_member(attachment.conv_id, user_id)
        elif user_id != attachment.uploader_id and not (
                self._holds_card is not None and
                await self._holds_card(user_id, list(attachment.card_ids))):
            raise Forbidden(f"file {file_id} is not on a card of yours")
        try:
            stream = await self._bucket.open_download_stream(file_id)
        except NoFile as exc:
            raise NotFound(f"no file {file_id}") from exc

        async def chunks() -> AsyncIterator[bytes]:
            while True:
                chunk = await stream.readchunk()
                if not chunk:
                    return
                yield chunk

        return attachment, chunks()

    async def own_card_files(self, user_id: str, file_ids: list[str],
                             field: str) -> list[Attachment]:
        """The files, each one uploaded for cards by this user; `BadRequest` naming `field`
        otherwise."""
        found = []
        for file_id in file_ids:
            attachment = await self.get(file_id)
            if attachment is None or attachment.conv_id is not None or \
                    attachment.uploader_id != user_id:
                raise BadRequest(f"{field}: {file_id} is not a file you uploaded for a card")
            found.append(attachment)
        return found

    async def attach_to_card(self, file_ids: list[str], card_id: str) -> None:
        # `$addToSet`: one file may go on several cards; attaching never takes it off another.
        await self._records.update_many({"_id": {"$in": file_ids}},
                                        {"$addToSet": {"card_ids": card_id}})

    async def delete(self, file_id: str) -> None:
        await self._records.delete_one({"_id": file_id})
        # A concurrent recall may have deleted it (nx-27017 reports that as OperationFailure).
        with contextlib.suppress(NoFile, OperationFailure):
            await self._bucket.delete(file_id)
