"""Cards in conversations, as the cards service needs them: who may see a card shared into a
group, and posting it there. A card in a conversation is a message holding only its id."""

from __future__ import annotations

from chat.conversations import ConversationService
from chat.messaging import MessageService
from chat.models import ConvType
from core.errors import Forbidden


class CardConversations:
    def __init__(self, conversations: ConversationService, messages: MessageService) -> None:
        self._conversations = conversations
        self._messages = messages

    async def is_member(self, conv_id: str, user_id: str) -> bool:
        return await self._conversations.is_member(conv_id, user_id)

    async def member_ids(self, conv_ids: list[str]) -> set[str]:
        found = await self._conversations.get_many(conv_ids)
        return {m for conversation in found.values() for m in conversation.members}

    async def require_shareable(self, conv_id: str, user_id: str) -> None:
        """A conversation of the user's that takes shared cards: not a work inbox, not
        dissolved."""
        conversation, _ = await self._conversations.require_member(conv_id, user_id)
        if conversation.dissolved or conversation.type == ConvType.NOTIFICATIONS:
            raise Forbidden(f"conversation {conv_id} takes no shared cards")

    async def post(self, conv_id: str, card_id: str) -> None:
        await self._messages.post(conv_id, "card", card={"card_id": card_id})
