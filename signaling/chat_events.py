"""Socket events of chat (PROTOCOL §3): each validates its payload and calls one service."""

from __future__ import annotations

from typing import Any

from chat.changes import ChangeFeed
from chat.conversations import ConversationService
from chat.messaging import MessageService, Outgoing
from chat.policy import ChatPolicy
from signaling.chat_schemas import (
    ChangesSince,
    ConvAdmin,
    ConvCreate,
    ConvMembers,
    ConvRef,
    ConvTransfer,
    ConvUpdate,
    MsgEdit,
    MsgHistory,
    MsgRead,
    MsgReaders,
    MsgRef,
    MsgSearch,
    MsgSend,
    MsgSync,
)
from signaling.gateway import SocketGateway, SocketState
from signaling.schemas import Empty

Reply = dict[str, Any]


class ChatEvents:
    def __init__(self, conversations: ConversationService, messages: MessageService,
                 feed: ChangeFeed, policy: ChatPolicy) -> None:
        self._conversations = conversations
        self._messages = messages
        self._feed = feed
        self._policy = policy

    def register(self, gateway: SocketGateway) -> None:
        gateway.route("conv:create", ConvCreate, self.conv_create)
        gateway.route("conv:list", Empty, self.conv_list)
        gateway.route("conv:get", ConvRef, self.conv_get)
        gateway.route("conv:update", ConvUpdate, self.conv_update)
        gateway.route("conv:members:add", ConvMembers, self.members_add)
        gateway.route("conv:members:remove", ConvMembers, self.members_remove)
        gateway.route("conv:leave", ConvRef, self.conv_leave)
        gateway.route("conv:admin", ConvAdmin, self.conv_admin)
        gateway.route("conv:transfer", ConvTransfer, self.conv_transfer)
        gateway.route("conv:dissolve", ConvRef, self.conv_dissolve)
        gateway.route("msg:send", MsgSend, self.msg_send)
        gateway.route("msg:history", MsgHistory, self.msg_history)
        gateway.route("msg:sync", MsgSync, self.msg_sync)
        gateway.route("changes:since", ChangesSince, self.changes_since)
        gateway.route("msg:read", MsgRead, self.msg_read)
        gateway.route("msg:readers", MsgReaders, self.msg_readers)
        gateway.route("msg:recall", MsgRef, self.msg_recall)
        gateway.route("msg:edit", MsgEdit, self.msg_edit)
        gateway.route("msg:ack", MsgRef, self.msg_ack)
        gateway.route("msg:search", MsgSearch, self.msg_search)
        gateway.route("typing", ConvRef, self.typing)

    # conversations -------------------------------------------------------------------------

    async def conv_create(self, state: SocketState, payload: ConvCreate) -> Reply:
        if payload.type == "direct":
            conversation = await self._conversations.create_direct(state.user_id,
                                                                   payload.members[0])
        elif payload.type == "group":
            conversation = await self._conversations.create_group(
                state.user_id, payload.members, payload.title)
        else:
            assert payload.dept_id is not None
            conversation = await self._conversations.create_department(
                state.user_id, payload.dept_id, payload.title)
        return {"conversation": conversation.to_wire()}

    async def conv_list(self, state: SocketState, _: Empty) -> Reply:
        return {"conversations": await self._messages.inbox(state.user_id)}

    async def conv_get(self, state: SocketState, payload: ConvRef) -> Reply:
        conversation = await self._conversations.get(state.user_id, payload.conv_id)
        return {"conversation": conversation.to_wire()}

    async def conv_update(self, state: SocketState, payload: ConvUpdate) -> Reply:
        conversation = await self._conversations.update(state.user_id, payload.conv_id,
                                                        payload.changes())
        return {"conversation": conversation.to_wire()}

    async def members_add(self, state: SocketState, payload: ConvMembers) -> Reply:
        conversation = await self._conversations.add_members(state.user_id, payload.conv_id,
                                                             payload.user_ids)
        return {"conversation": conversation.to_wire()}

    async def members_remove(self, state: SocketState, payload: ConvMembers) -> Reply:
        conversation = await self._conversations.remove_members(state.user_id, payload.conv_id,
                                                                payload.user_ids)
        return {"conversation": conversation.to_wire()}

    async def conv_leave(self, state: SocketState, payload: ConvRef) -> Reply:
        await self._conversations.leave(state.user_id, payload.conv_id)
        return {}

    async def conv_admin(self, state: SocketState, payload: ConvAdmin) -> Reply:
        conversation = await self._conversations.set_admin(state.user_id, payload.conv_id,
                                                           payload.user_id, payload.admin)
        return {"conversation": conversation.to_wire()}

    async def conv_transfer(self, state: SocketState, payload: ConvTransfer) -> Reply:
        conversation = await self._conversations.transfer(state.user_id, payload.conv_id,
                                                          payload.user_id)
        return {"conversation": conversation.to_wire()}

    async def conv_dissolve(self, state: SocketState, payload: ConvRef) -> Reply:
        await self._conversations.dissolve(state.user_id, payload.conv_id)
        return {}

    # messages ------------------------------------------------------------------------------

    async def msg_send(self, state: SocketState, payload: MsgSend) -> Reply:
        message = await self._messages.send(state.user_id, Outgoing(
            conv_id=payload.conv_id, client_msg_id=payload.client_msg_id, type=payload.type,
            text=payload.text, mentions=tuple(payload.mentions), file_id=payload.file_id,
            urgent=payload.urgent))
        return {"message": message.to_wire(state.user_id)}

    async def msg_history(self, state: SocketState, payload: MsgHistory) -> Reply:
        found, has_more = await self._messages.history(state.user_id, payload.conv_id,
                                                       payload.before_seq, payload.limit)
        return {"messages": await self._messages.wires(state.user_id, found),
                "has_more": has_more}

    async def msg_sync(self, state: SocketState, payload: MsgSync) -> Reply:
        found, has_more = await self._messages.sync(state.user_id, payload.cursors,
                                                    payload.limit)
        return {"messages": await self._messages.wires(state.user_id, found),
                "has_more": has_more}

    async def changes_since(self, state: SocketState, payload: ChangesSince) -> Reply:
        page = await self._feed.since(state.user_id, payload.cursor,
                                      payload.limit or self._policy.feed_limit)
        return page.to_wire()

    async def msg_read(self, state: SocketState, payload: MsgRead) -> Reply:
        read_seq = await self._messages.read(state.user_id, payload.conv_id, payload.seq)
        return {"conv_id": payload.conv_id, "read_seq": read_seq}

    async def msg_readers(self, state: SocketState, payload: MsgReaders) -> Reply:
        return await self._messages.readers(state.user_id, payload.msg_id, payload.conv_id)

    async def msg_recall(self, state: SocketState, payload: MsgRef) -> Reply:
        message = await self._messages.recall(state.user_id, payload.msg_id)
        return {"message": message.to_wire(state.user_id)}

    async def msg_edit(self, state: SocketState, payload: MsgEdit) -> Reply:
        message = await self._messages.edit(state.user_id, payload.msg_id, payload.text)
        return {"message": message.to_wire(state.user_id)}

    async def msg_ack(self, state: SocketState, payload: MsgRef) -> Reply:
        await self._messages.ack(state.user_id, payload.msg_id)
        return {"msg_id": payload.msg_id}

    async def msg_search(self, state: SocketState, payload: MsgSearch) -> Reply:
        return {"results": await self._messages.search(state.user_id, payload.q,
                                                       payload.conv_id, payload.limit)}

    async def typing(self, state: SocketState, payload: ConvRef) -> Reply:
        await self._messages.typing(state.user_id, payload.conv_id)
        return {}
