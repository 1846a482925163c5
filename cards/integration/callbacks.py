"""Callbacks to an application when someone acts on its card: a durable queue in MongoDB and
the sender that drains it.

Each act inserts its job before the card's compare-and-set (`rules.py`), so an act that took
effect always has one; the act's own node sends it at once (`kick`), and a periodic sweep on
every node sends what is due: first sends whose node died, then retries with exponential
backoff. Every send is claimed by compare-and-set on the job's `due` and `attempts`, which
also leases it for the length of one request, so with many nodes each attempt is made once.
Delivery is at least once: a node that dies after the application answered but before it
recorded the answer leaves the job to be sent again when its lease runs out; the
application recognises the repeat by `delivery_id`."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pymongo import ReturnDocument

from cards.integration.apps import App, AppRegistry
from cards.integration.signing import (
    APP_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
)
from core.clock import Clock
from core.mongo import Database, Document
from core.tasks import Periodic, cancel_and_wait

log = logging.getLogger(__name__)

CHECK_SECONDS = 1.0
_BATCH = 100
_PARALLEL_SENDS = 16
# A new job waits this long for its act's own kick before the sweep may take it: the kick
# normally sends it within milliseconds; the sweep is for a node that died in between.
UNCLAIMED_GRACE_SECONDS = 30.0
# A lease outlives the request timeout by this much, so a slow answer is not sent twice.
_LEASE_MARGIN_SECONDS = 5.0
# A job whose act never reached the card (its node died before the compare-and-set) is
# dropped once it is this old.
_ORPHAN_SECONDS = 600.0
_MAX_DELAY_SECONDS = 3600.0
_REPLY_MAX_BYTES = 64 * 1024
_ERROR_MAX = 200

QUEUED, DELIVERED, FAILED = "queued", "delivered", "failed"


@dataclass(frozen=True)
class CallbackPolicy:
    timeout: float = 10.0
    attempts: int = 6
    backoff: float = 2.0

    def delay(self, attempts_made: int) -> float:
        """Seconds before the next attempt: backoff, 2x, 4x, ... capped at an hour."""
        return float(min(self.backoff * 2 ** (attempts_made - 1), _MAX_DELAY_SECONDS))


@dataclass(frozen=True)
class CallbackJob:
    id: str
    app_id: str
    card_id: str
    external_id: str | None
    actor_id: str
    action: str
    inputs: dict[str, Any]
    version: int
    at: str
    created: float
    due: float
    attempts: int = 0
    state: str = QUEUED
    last_error: str = ""

    def payload(self) -> dict[str, Any]:
        return {"event": "card.act", "delivery_id": self.id, "app_id": self.app_id,
                "card_id": self.card_id, "external_id": self.external_id,
                "actor_id": self.actor_id, "action": self.action, "inputs": self.inputs,
                "version": self.version, "at": self.at}

    def to_doc(self) -> Document:
        return {"_id": self.id, "app_id": self.app_id, "card_id": self.card_id,
                "external_id": self.external_id, "actor_id": self.actor_id,
                "action": self.action, "inputs": self.inputs, "version": self.version,
                "at": self.at, "created": self.created, "due": self.due,
                "attempts": self.attempts, "state": self.state, "last_error": self.last_error}

    @classmethod
    def from_doc(cls, doc: Document) -> CallbackJob:
        return cls(id=doc["_id"], app_id=doc["app_id"], card_id=doc["card_id"],
                   external_id=doc.get("external_id"), actor_id=doc["actor_id"],
                   action=doc["action"], inputs=dict(doc.get("inputs") or {}),
                   version=int(doc["version"]), at=doc["at"], created=float(doc["created"]),
                   due=float(doc["due"]), attempts=int(doc["attempts"]), state=doc["state"],
                   last_error=doc.get("last_error") or "")


class ReplyField(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str = Field(min_length=1, max_length=100)
    value: str = Field(max_length=2000)


class CallbackReply(BaseModel):
    """What a 2xx answer may carry to change the card; other keys are the application's."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    status: str | None = Field(default=None, min_length=1, max_length=40)
    message: str | None = Field(default=None, max_length=500)
    fields: list[ReplyField] | None = Field(default=None, max_length=50)


@dataclass(frozen=True)
class Outcome:
    """How a callback ended, as the card shows it."""

    delivered: bool
    message: str = ""
    status: str | None = None
    fields: tuple[tuple[str, str], ...] | None = None
    attempts: int = 0

    @classmethod
    def from_reply(cls, raw: bytes, attempts: int) -> Outcome:
        if not raw.strip():
            return cls(True, attempts=attempts)
        try:
            reply = CallbackReply.model_validate(json.loads(raw))
        except (ValueError, ValidationError) as exc:
            # The application has the act (it said 2xx); only its decoration is unusable.
            log.warning("ignoring an unreadable callback reply: %s", str(exc)[:_ERROR_MAX])
            return cls(True, attempts=attempts)
        fields = None if reply.fields is None else tuple((f.label, f.value)
                                                         for f in reply.fields)
        return cls(True, message=reply.message or "", status=reply.status, fields=fields,
                   attempts=attempts)


class CallbackQueue:
    """The jobs, one document each; every change is a compare-and-set on the claim."""

    def __init__(self, db: Database) -> None:
        self._jobs = db["oa_callbacks"]

    async def ensure_indexes(self) -> None:
        await self._jobs.create_index([("state", 1), ("due", 1)])

    async def add(self, job: CallbackJob) -> None:
        await self._jobs.insert_one(job.to_doc())

    async def get(self, job_id: str) -> CallbackJob | None:
        doc = await self._jobs.find_one({"_id": job_id})
        return CallbackJob.from_doc(doc) if doc else None

    async def due(self, now: float, limit: int = _BATCH) -> list[CallbackJob]:
        cursor = self._jobs.find({"state": QUEUED, "due": {"$lte": now}}).sort(
            "due", 1).limit(limit)
        return [CallbackJob.from_doc(doc) async for doc in cursor]

    @staticmethod
    def _as_seen(job: CallbackJob) -> Document:
        return {"_id": job.id, "state": QUEUED, "due": job.due, "attempts": job.attempts}

    async def claim(self, job: CallbackJob, lease_until: float) -> CallbackJob | None:
        """Take the next attempt; None if another node took it or it is settled."""
        doc = await self._jobs.find_one_and_update(
            self._as_seen(job), {"$set": {"due": lease_until}, "$inc": {"attempts": 1}},
            return_document=ReturnDocument.AFTER)
        return CallbackJob.from_doc(doc) if doc else None

    async def retry_at(self, claimed: CallbackJob, due: float, error: str) -> None:
        await self._jobs.update_one(self._as_seen(claimed),
                                    {"$set": {"due": due, "last_error": error}})

    async def finish(self, claimed: CallbackJob, state: str, error: str = "") -> None:
        await self._jobs.update_one(self._as_seen(claimed),
                                    {"$set": {"state": state, "last_error": error}})

    async def drop(self, job: CallbackJob) -> None:
        await self._jobs.delete_one(self._as_seen(job))


# Does the card hold this job's act? True: send it; False: the act lost its compare-and-set,
# drop the job; None: the act is still being stored.
Confirm = Callable[[CallbackJob], Awaitable[bool | None]]
# Show how a callback ended on its card.
Settle = Callable[[CallbackJob, Outcome], Awaitable[None]]


class CallbackSender:
    def __init__(self, queue: CallbackQueue, apps: AppRegistry, clock: Clock,
                 policy: CallbackPolicy, check_every: float = CHECK_SECONDS) -> None:
        self._queue = queue
        self._apps = apps
        self._clock = clock
        self._policy = policy
        self._sweeper = Periodic(clock, check_every, self.run_due, "card callbacks")
        self._kicked: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._confirm: Confirm | None = None
        self._settle: Settle | None = None

    def start(self, confirm: Confirm, settle: Settle) -> None:
        self._confirm = confirm
        self._settle = settle
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._policy.timeout))
        self._sweeper.start()

    async def stop(self) -> None:
        await self._sweeper.stop()
        for task in list(self._kicked):
            await cancel_and_wait(task)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def kick(self, job_id: str) -> None:
        """Send this job now, in the background: the act that queued it is not held up."""
        task = asyncio.create_task(self._send_now(job_id), name=f"card callback {job_id}")
        self._kicked.add(task)
        task.add_done_callback(self._kicked.discard)

    async def _send_now(self, job_id: str) -> None:
        try:
            job = await self._queue.get(job_id)
            if job is not None and job.state == QUEUED and job.attempts == 0:
                await self.attempt(job)
        except Exception:
            log.exception("card callback %s failed; the sweep will retry it", job_id)

    async def run_due(self) -> None:
        jobs = await self._queue.due(self._clock.time())
        if not jobs:
            return
        gate = asyncio.Semaphore(_PARALLEL_SENDS)

        async def one(job: CallbackJob) -> None:
            async with gate:
                try:
                    await self.attempt(job)
                except Exception:
                    log.exception("card callback %s failed; it stays queued", job.id)

        await asyncio.gather(*(one(job) for job in jobs))

    async def attempt(self, job: CallbackJob) -> None:
        assert self._confirm is not None and self._settle is not None
        verdict = await self._confirm(job)
        if verdict is False or (verdict is None and
                                self._clock.time() - job.created > _ORPHAN_SECONDS):
            await self._queue.drop(job)
            return
        if verdict is None:
            return
        lease = self._clock.time() + self._policy.timeout + _LEASE_MARGIN_SECONDS
        claimed = await self._queue.claim(job, lease)
        if claimed is None:
            return
        app = await self._apps.get(claimed.app_id)
        if claimed.attempts > self._policy.attempts or app is None:
            # Out of attempts already (a node died recording the last one), or the
            # application is gone: nothing left to try.
            error = claimed.last_error if app is not None else "the application is gone"
            await self._give_up(claimed, error)
            return
        result = await self._post(app, claimed)
        if isinstance(result, Outcome):
            await self._settle(claimed, result)
            await self._queue.finish(claimed, DELIVERED)
        elif claimed.attempts >= self._policy.attempts:
            await self._give_up(claimed, result)
        else:
            await self._queue.retry_at(
                claimed, self._clock.time() + self._policy.delay(claimed.attempts), result)

    async def _give_up(self, claimed: CallbackJob, error: str) -> None:
        assert self._settle is not None
        attempts = min(claimed.attempts, self._policy.attempts)
        message = f"the application did not accept the callback after {attempts} " \
                  f"attempt{'s' if attempts != 1 else ''}: {error}"
        await self._settle(claimed, Outcome(False, message=message, attempts=attempts))
        await self._queue.finish(claimed, FAILED, error)

    async def _post(self, app: App, job: CallbackJob) -> Outcome | str:
        """The application's answer, or why there was none."""
        assert self._session is not None
        body = json.dumps(job.payload(), ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = int(self._clock.time())
        headers = {"Content-Type": "application/json", APP_HEADER: app.id,
                   TIMESTAMP_HEADER: str(timestamp),
                   SIGNATURE_HEADER: signature(app.secret, timestamp, body)}
        try:
            async with self._session.post(app.callback_url, data=body, headers=headers,
                                          allow_redirects=False) as response:
                if 200 <= response.status < 300:
                    return Outcome.from_reply(await _read_reply(response), job.attempts)
                return f"HTTP {response.status}"
        except TimeoutError:
            return f"no answer within {self._policy.timeout:g} s"
        except aiohttp.ClientError as exc:
            return f"{type(exc).__name__}: {exc}"[:_ERROR_MAX]


async def _read_reply(response: aiohttp.ClientResponse) -> bytes:
    """The body, or nothing when it is larger than a reply can usefully be."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(16 * 1024):
        size += len(chunk)
        if size > _REPLY_MAX_BYTES:
            return b""
        chunks.append(chunk)
    return b"".join(chunks)
