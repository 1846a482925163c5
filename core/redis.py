"""Redis through redis.asyncio, keys under one prefix per deployment (or per test)."""

from __future__ import annotations

from redis.asyncio import Redis


def connect_redis(url: str) -> Redis:
    return Redis.from_url(url, decode_responses=True, health_check_interval=30,
                          socket_connect_timeout=5, socket_timeout=10)


class Keys:
    """Builds every Redis key and channel name, so one prefix isolates a deployment or a test."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)
