"""The OA integration: applications send cards to people (`do_send_card`), and each act on
such a card is called back to the application (`callbacks.py`), whose answer the card then
shows to every holder.

An `external_id` makes sending idempotent per application: the pair is claimed by a unique
`_id` before the card is made, so of two requests racing with one id, one makes the card and
the other waits for it and answers the same card."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from pymongo.errors import DuplicateKeyError

from cards.integration.apps import App, AppRegistry
from cards.integration.callbacks import (
    CHECK_SECONDS,
    CallbackJob,
    CallbackPolicy,
    CallbackQueue,
    CallbackSender,
    Outcome,
)
from cards.integration.rules import APP_CARD_KIND, AppCardRules, holds_act, show_outcome
from cards.models import Action, Card
from cards.service import CardService
from cards.store import CardStore
from core.clock import Clock
from core.crypto import FieldCipher
from core.directory.service import DirectoryService
from core.errors import BadRequest, Conflict
from core.mongo import Database

# A status for cards that ask nothing of anyone.
INFO_STATUS = "info"
_PARALLEL_DELIVERIES = 32
# A second request with a claimed external_id polls for the first one's card this long.
_REPEAT_WAIT_SECONDS = 5.0
_REPEAT_POLL_SECONDS = 0.05
# A claim still without its card after this long belongs to a request whose node died
# between claiming and storing the card (one insert apart): a repeat takes it over.
_STALE_CLAIM_SECONDS = 30.0
_NAMED_MAX = 10


@dataclass(frozen=True)
class AppCardSpec:
    to: tuple[str, ...]
    title: str
    fields: tuple[tuple[str, str], ...] = ()
    actions: tuple[Action, ...] = ()
    mode: str = "any"
    actors: tuple[str, ...] | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class SentCard:
    card_id: str
    holders: int
    created: bool

    def to_wire(self) -> dict[str, object]:
        return {"card_id": self.card_id, "holders": self.holders}


class OAIntegration:
    def __init__(self, db: Database, cards: CardService, card_store: CardStore,
                 directory: DirectoryService, clock: Clock, policy: CallbackPolicy,
                 cipher: FieldCipher, check_every: float = CHECK_SECONDS) -> None:
        self.apps = AppRegistry(db, clock, cipher)
        self._refs = db["oa_card_refs"]
        self._cards = cards
        self._store = card_store
        self._directory = directory
        self._clock = clock
        self._queue = CallbackQueue(db)
        self.sender = CallbackSender(self._queue, self.apps, clock, policy, check_every)
        cards.register_rules(APP_CARD_KIND, AppCardRules(self._queue, self.sender, clock))

    async def ensure_indexes(self) -> None:
        await self._queue.ensure_indexes()

    def start(self) -> None:
        self.sender.start(self._confirm, self._settle)

    async def stop(self) -> None:
        await self.sender.stop()

    # sending -------------------------------------------------------------------------------

    async def do_send_card(self, app: App, spec: AppCardSpec) -> SentCard:
        if spec.external_id is None:
            await self._check_people(spec.to)
            card = await self._create(app, spec)
            await self._deliver(card)
            return SentCard(card.id, len(card.holders), created=True)
        ref = f"{app.id}|{spec.external_id}"
        owner = uuid.uuid4().hex
        earlier = await self._claim(ref, owner)
        if earlier is not None:
            return earlier
        try:
            await self._check_people(spec.to)
            card = await self._create(app, spec)
        except BaseException:
            await self._refs.delete_one({"_id": ref, "owner": owner})
            raise
        await self._refs.update_one({"_id": ref, "owner": owner},
                                    {"$set": {"state": "created", "card_id": card.id,
                                              "holders": len(card.holders)}})
        await self._deliver(card)
        return SentCard(card.id, len(card.holders), created=True)

    async def _check_people(self, user_ids: Iterable[str]) -> None:
        wanted = sorted(set(user_ids))
        found = await self._directory.get_users(wanted)
        missing = [u for u in wanted if u not in found or found[u].disabled]
        if missing:
            named = ", ".join(missing[:_NAMED_MAX]) + (" ..." if len(missing) > _NAMED_MAX
                                                      else "")
            raise BadRequest(f"to: not enabled users of the directory: {named}",
                             {"unknown": missing[:100]})

    async def _create(self, app: App, spec: AppCardSpec) -> Card:
        actors = spec.to if spec.actors is None else spec.actors
        action_ids = tuple(a.id for a in spec.actions)
        can_act = {actor: action_ids for actor in actors} if action_ids else {}
        # Delivered by `_deliver` once the external_id knows its card, so that a repeat
        # finds it while the messages go out.
        return await self._cards.create(
            kind=APP_CARD_KIND, title=spec.title, holders=spec.to, actions=spec.actions,
            can_act=can_act, mode=spec.mode, fields=spec.fields,
            status="pending" if action_ids else INFO_STATUS, deliver_to=(),
            meta={"app_id": app.id, "app_name": app.name, "external_id": spec.external_id})

    async def _deliver(self, card: Card) -> None:
        gate = asyncio.Semaphore(_PARALLEL_DELIVERIES)

        async def one(user_id: str) -> None:
            async with gate:
                await self._cards.deliver(user_id, card)

        await asyncio.gather(*(one(u) for u in sorted(card.holders)))

    async def _claim(self, ref: str, owner: str) -> SentCard | None:
        """None when this request owns `ref` and makes the card; else the card the earlier
        request made."""
        for _ in range(int(_REPEAT_WAIT_SECONDS / _REPEAT_POLL_SECONDS)):
            try:
                await self._refs.insert_one({"_id": ref, "state": "creating", "owner": owner,
                                             "at": self._clock.time()})
                return None
            except DuplicateKeyError:
                doc = await self._refs.find_one({"_id": ref})
            if doc is None:
                continue  # the earlier request failed and let go: claim it afresh
            if doc["state"] == "created":
                return SentCard(doc["card_id"], int(doc["holders"]), created=False)
            if self._clock.time() - float(doc["at"]) > _STALE_CLAIM_SECONDS:
                taken = await self._refs.find_one_and_update(
                    {"_id": ref, "state": "creating", "owner": doc["owner"]},
                    {"$set": {"owner": owner, "at": self._clock.time()}})
                if taken is not None:
                    return None
                continue
            # Polls the store while the first request stores its card; not a time rule.
            await asyncio.sleep(_REPEAT_POLL_SECONDS)
        raise Conflict("a card with this external_id is still being created; retry")

    # callbacks -----------------------------------------------------------------------------

    async def _confirm(self, job: CallbackJob) -> bool | None:
        card = await self._cards.stored(job.card_id)
        if card is None:
            return False
        if holds_act(card, job.id):
            return True
        return False if card.version >= job.version else None

    async def _settle(self, job: CallbackJob, outcome: Outcome) -> None:
        """Show the outcome on the card by compare-and-set, retried while holders act, then
        `card:update` to every holder (a card that keeps changing shows it on a later
        attempt of the job)."""
        await self._cards.revise(job.card_id, lambda card: show_outcome(card, job.id, outcome))
