"""Login, refresh, token checks and revocation."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.auth.passwords import hash_password, verify_password
from core.auth.ratelimit import WindowCounter
from core.auth.tokens import Claims, InvalidToken, TokenCodec, TokenKind
from core.bus import DomainEvent, EventBus
from core.clock import Clock, iso
from core.directory.models import User
from core.directory.store import DirectoryStore
from core.errors import BadRequest, RateLimited, Unauthorized

_WRONG = "wrong username or password"
MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True)
class AuthPolicy:
    access_ttl: float
    refresh_ttl: float
    password_hash_n: int


@dataclass(frozen=True)
class Session:
    user: User
    access: Claims
    token: str
    refresh_token: str

    def to_wire(self) -> dict[str, Any]:
        expires = datetime.fromtimestamp(self.access.expires_at, UTC)
        return {"token": self.token, "refresh_token": self.refresh_token,
                "expires_at": iso(expires), "user": self.user.to_wire()}


@dataclass(frozen=True)
class Identity:
    """Who a valid access token speaks for, and until when."""

    user: User
    claims: Claims


class AuthService:
    def __init__(self, store: DirectoryStore, codec: TokenCodec, bus: EventBus, clock: Clock,
                 policy: AuthPolicy, per_user: WindowCounter, per_address: WindowCounter) -> None:
        self._store = store
        self._codec = codec
        self._bus = bus
        self._clock = clock
        self._policy = policy
        self._per_user = per_user
        self._per_address = per_address
        self._dummy_hash: str | None = None

    async def do_login(self, username: str, password: str, address: str) -> Session:
        user_key = username.lower()
        for counter, subject in ((self._per_user, user_key), (self._per_address, address)):
            retry_after = await counter.exceeded(subject)
            if retry_after is not None:
                raise RateLimited("too many failed logins; try again later",
                                  {"retry_after_ms": int(retry_after * 1000)})
        user, stored = await self._store.get_credentials(username)
        loop = asyncio.get_running_loop()
        # Hash even for an unknown user so that timing does not tell which usernames exist.
        ok = await loop.run_in_executor(None, verify_password, password,
                                        stored or self._dummy())
        if user is None or stored is None or not ok or user.disabled:
            await self._per_user.hit(user_key)
            await self._per_address.hit(address)
            raise Unauthorized(_WRONG)
        await self._per_user.reset(user_key)
        return self._issue(user)

    async def do_refresh(self, refresh_token: str) -> Session:
        identity = await self._check(refresh_token, TokenKind.REFRESH)
        return self._issue(identity.user)

    async def authenticate(self, token: str) -> Identity:
        """The identity behind an access token; Unauthorized when it is not (or no longer) valid."""
        return await self._check(token, TokenKind.ACCESS)

    async def do_change_password(self, user_id: str, old: str, new: str) -> Session:
        if len(new) < MIN_PASSWORD_LENGTH:
            raise BadRequest(f"new_password must have at least {MIN_PASSWORD_LENGTH} characters")
        stored = await self._store.get_password_hash(user_id)
        loop = asyncio.get_running_loop()
        if stored is None or not await loop.run_in_executor(None, verify_password, old, stored):
            raise Unauthorized(_WRONG)
        new_hash = await loop.run_in_executor(None, self._hash, new)
        user = await self._store.set_password_hash(user_id, new_hash)
        if user is None:
            raise Unauthorized(_WRONG)
        await self._announce_revocation(user_id, "password_changed")
        return self._issue(user)

    async def do_set_password(self, user_id: str, new: str) -> User | None:
        """An administrator's reset: a new password and every old token revoked."""
        if len(new) < MIN_PASSWORD_LENGTH:
            raise BadRequest(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
        new_hash = await asyncio.get_running_loop().run_in_executor(None, self._hash, new)
        user = await self._store.set_password_hash(user_id, new_hash)
        if user is not None:
            await self._announce_revocation(user_id, "password_reset")
        return user

    async def do_revoke(self, user_id: str, reason: str) -> User | None:
        user = await self._store.bump_token_version(user_id)
        if user is not None:
            await self._announce_revocation(user_id, reason)
        return user

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self._hash("not-a-password")
        return self._dummy_hash

    def _hash(self, password: str) -> str:
        return hash_password(password, n=self._policy.password_hash_n)

    async def _announce_revocation(self, user_id: str, reason: str) -> None:
        await self._bus.publish(DomainEvent("auth:revoked", {"reason": reason},
                                            audience=frozenset({user_id})))

    async def _check(self, token: str, kind: TokenKind) -> Identity:
        try:
            claims = self._codec.decode(token, kind, self._clock.time())
        except InvalidToken as exc:
            raise Unauthorized(f"invalid token: {exc}") from exc
        user = await self._store.get_user(claims.user_id)
        if user is None or user.disabled or user.token_version != claims.version:
            raise Unauthorized("token revoked")
        return Identity(user, claims)

    def _issue(self, user: User) -> Session:
        now = self._clock.time()
        access = self._codec.issue(user.id, TokenKind.ACCESS, user.token_version, now,
                                   self._policy.access_ttl)
        refresh = self._codec.issue(user.id, TokenKind.REFRESH, user.token_version, now,
                                    self._policy.refresh_ttl)
        return Session(user=user, access=access, token=self._codec.encode(access),
                       refresh_token=self._codec.encode(refresh))
