"""Chat: conversations, messages, receipts, the change feed, search, files and urgent notices."""
