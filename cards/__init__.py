"""Cards: work that arrives in the chat and is acted on where it arrives (消息即办公)."""
