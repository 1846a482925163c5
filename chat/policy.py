"""The limits and windows of chat, from configuration."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChatPolicy:
    text_max: int = 5000
    group_max_members: int = 2000
    recall_window: float = 120
    urgent_interval: float = 300
    file_max_bytes: int = 50 * 1024 * 1024
    history_limit: int = 50
    history_limit_max: int = 200
    sync_limit: int = 500
    sync_limit_max: int = 1000
    feed_limit: int = 500
