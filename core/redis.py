"""Redis through redis.asyncio, keys under one prefix per deployment (or per test)."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

MAX_CONNECTIONS = 64


def connect_redis(url: str, max_connections: int = MAX_CONNECTIONS, *,
                  decode_responses: bool = True) -> Redis:
    """A client whose pool waits for a free connection under a burst instead of failing
    (redis-py's default pool raises past 100 connections; a node needs far fewer, since
    commands are pipelined over each one)."""
    pool = BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=10, decode_responses=decode_responses,
        health_check_interval=30, socket_connect_timeout=5, socket_timeout=10)
    return Redis.from_pool(pool)  # the client owns the pool and closes it


class Keys:
    """Builds every Redis key and channel name, so one prefix isolates a deployment or a test."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)
