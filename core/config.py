"""Typed, frozen configuration, read once from the environment and validated at boot."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.crypto import parse_key

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("data")
    redis_url: str | None = None
    mongo_url: str | None = None
    mongo_db: str = "xietong"
    redis_prefix: str = "xt:"
    node_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    secret_key: str | None = None
    field_key: str | None = None
    org_tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    demo: bool = True
    log_level: str = "INFO"
    access_token_ttl: float = 12 * 3600
    refresh_token_ttl: float = 14 * 24 * 3600
    token_expiry_warning: float = 300
    login_max_per_user: int = 10
    login_max_per_address: int = 100
    login_window: float = 300
    password_hash_n: int = 2**14
    presence_ttl: float = 30
    presence_idle_after: float = 600
    presence_offline_grace: float = 5
    drain_retry_after_ms: int = 2000
    chat_text_max: int = 5000
    chat_group_max_members: int = 2000
    send_rate_max: int = 20
    send_rate_window: float = 10
    recall_window: float = 120
    urgent_interval: float = 300
    # How often each node looks for rooms whose state changes now (bookings start, end, are
    # released).
    room_tick: float = 1.0
    file_max_bytes: int = 50 * 1024 * 1024
    changes_retention: float = 7 * 24 * 3600
    ws_compression: bool = False
    card_callback_timeout: float = 10.0
    card_callback_attempts: int = 6
    card_callback_backoff: float = 2.0
    # ICE host addresses the SFU offers (empty: every address of the machine). Tests use
    # 127.0.0.1 so that no packet leaves loopback.
    media_host_addresses: tuple[str, ...] = ()
    # A media node that has not renewed its registration for this long counts as dead.
    media_node_ttl: float = 5.0
    # At most one keyframe request per publisher in this many seconds.
    keyframe_interval: float = 0.5

    @property
    def embedded(self) -> bool:
        return self.redis_url is None or self.mongo_url is None

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def _addresses(raw: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in raw.split(",") if p.strip())
    for part in parts:
        ipaddress.ip_address(part)  # ValueError names the bad one
    return parts


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


T = TypeVar("T")


def _parse(env: Mapping[str, str], name: str, convert: Callable[[str], T], what: str) -> T | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return convert(raw.strip())
    except (ValueError, ZoneInfoNotFoundError) as exc:
        raise ConfigError(f"{name}={raw!r} is not {what}") from exc


def _positive(kind: Callable[[str], T]) -> Callable[[str], T]:
    def convert(raw: str) -> T:
        value = kind(raw)
        if value <= 0:  # type: ignore[operator]
            raise ValueError(raw)
        return value

    return convert


def _minimum(least: float) -> Callable[[str], float]:
    def convert(raw: str) -> float:
        value = float(raw)
        if value < least:
            raise ValueError(raw)
        return value

    return convert


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def _field_key(raw: str) -> str:
    parse_key(raw)
    return raw.strip()


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 65535:
        raise ValueError(raw)
    return value


def _url(schemes: tuple[str, ...]) -> Callable[[str], str]:
    def convert(raw: str) -> str:
        if not raw.startswith(schemes):
            raise ValueError(raw)
        return raw

    return convert


def _log_level(raw: str) -> str:
    if raw.upper() not in LOG_LEVELS:
        raise ValueError(raw)
    return raw.upper()


def _power_of_two(raw: str) -> int:
    value = int(raw)
    if value < 2 or value & (value - 1):
        raise ValueError(raw)
    return value


def load_config(env: Mapping[str, str] | None = None) -> Config:
    """Build the Config from `env` (default: os.environ); raise ConfigError naming a bad value."""
    env = os.environ if env is None else env
    values: dict[str, object] = {}

    def take(name: str, attr: str, convert: Callable[[str], object], what: str) -> None:
        value = _parse(env, name, convert, what)
        if value is not None:
            values[attr] = value

    take("HOST", "host", str, "a host")
    take("PORT", "port", _port, "a port number (0-65535)")
    take("DATA_DIR", "data_dir", Path, "a path")
    take("REDIS_URL", "redis_url", _url(("redis://", "rediss://", "unix://")), "a redis:// URL")
    take("MONGO_URL", "mongo_url", _url(("mongodb://", "mongodb+srv://")), "a mongodb:// URL")
    take("MONGO_DB", "mongo_db", str, "a database name")
    take("REDIS_PREFIX", "redis_prefix", str, "a key prefix")
    take("NODE_ID", "node_id", str, "a node id")
    take("SECRET_KEY", "secret_key", str, "a secret")
    take("FIELD_KEY", "field_key", _field_key, "32 bytes in base64 (openssl rand -base64 32)")
    take("ORG_TZ", "org_tz", ZoneInfo, "an IANA time zone such as Asia/Shanghai")
    take("DEMO", "demo", _bool, "a boolean (true/false)")
    take("LOG_LEVEL", "log_level", _log_level, f"one of {', '.join(LOG_LEVELS)}")
    take("ACCESS_TOKEN_TTL", "access_token_ttl", _positive(float), "a positive number of seconds")
    take("REFRESH_TOKEN_TTL", "refresh_token_ttl", _positive(float), "a positive number of seconds")
    take("TOKEN_EXPIRY_WARNING", "token_expiry_warning", _positive(float), "positive seconds")
    take("LOGIN_MAX_PER_USER", "login_max_per_user", _positive(int), "a positive integer")
    take("LOGIN_MAX_PER_ADDRESS", "login_max_per_address", _positive(int), "a positive integer")
    take("LOGIN_WINDOW", "login_window", _positive(float), "a positive number of seconds")
    take("PASSWORD_HASH_N", "password_hash_n", _power_of_two, "a power of two (scrypt cost)")
    take("PRESENCE_TTL", "presence_ttl", _positive(float), "a positive number of seconds")
    take("PRESENCE_IDLE_AFTER", "presence_idle_after", _positive(float), "positive seconds")
    take("PRESENCE_OFFLINE_GRACE", "presence_offline_grace", float, "a number of seconds")
    take("DRAIN_RETRY_AFTER_MS", "drain_retry_after_ms", _positive(int), "positive milliseconds")
    take("CHAT_TEXT_MAX", "chat_text_max", _positive(int), "a positive number of characters")
    take("CHAT_GROUP_MAX_MEMBERS", "chat_group_max_members", _positive(int), "a positive integer")
    take("SEND_RATE_MAX", "send_rate_max", _positive(int), "a positive integer")
    take("SEND_RATE_WINDOW", "send_rate_window", _positive(float), "positive seconds")
    take("RECALL_WINDOW", "recall_window", _positive(float), "positive seconds")
    take("URGENT_INTERVAL", "urgent_interval", _positive(float), "positive seconds")
    take("ROOM_TICK", "room_tick", _positive(float), "positive seconds")
    take("FILE_MAX_BYTES", "file_max_bytes", _positive(int), "a positive number of bytes")
    take("WS_COMPRESSION", "ws_compression", _bool, "a boolean (true/false)")
    take("CHANGES_RETENTION", "changes_retention", _minimum(7 * 24 * 3600.0),
         "at least 604800 seconds (7 days)")
    take("CARD_CALLBACK_TIMEOUT", "card_callback_timeout", _positive(float), "positive seconds")
    take("CARD_CALLBACK_ATTEMPTS", "card_callback_attempts", _positive(int),
         "a positive integer")
    take("CARD_CALLBACK_BACKOFF", "card_callback_backoff", _positive(float), "positive seconds")
    take("MEDIA_HOST_ADDRESSES", "media_host_addresses", _addresses,
         "comma-separated IP addresses")
    take("MEDIA_NODE_TTL", "media_node_ttl", _positive(float), "positive seconds")
    take("KEYFRAME_INTERVAL", "keyframe_interval", _positive(float), "positive seconds")

    embedded = "redis_url" not in values or "mongo_url" not in values
    host = str(values.get("host", Config.host))
    if "demo" not in values:
        values["demo"] = embedded and is_loopback(host)
    elif values["demo"] and not is_loopback(host):
        raise ConfigError(f"DEMO=true is refused on the non-loopback address HOST={host}: "
                          "the demo organisation has well-known passwords")
    config = Config(**values)  # type: ignore[arg-type]
    if len(config.secret_key or "x" * 16) < 16:
        raise ConfigError("SECRET_KEY must be at least 16 characters")
    return config
