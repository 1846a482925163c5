"""Host controls (PROTOCOL §6): mute, remove, lock, hand over host.

Only hosts may use them. Each is a decision on the meeting record, taken against the version
the host's request read: two hosts acting at once never overwrite each other; the second
reads the first's outcome and decides again (`ATTEMPTS` times, then `conflict`). The record's
new version goes with the decision to the media node, which keeps only the newest, so the
SFU ends where the record ends whatever order the two requests reach it in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.errors import BadRequest, Conflict, Forbidden
from meetings.records import Meeting, MeetingService, MeetingStore

ATTEMPTS = 5

Decide = Callable[[Meeting], dict[str, Any] | None]


class HostControls:
    def __init__(self, store: MeetingStore, meetings: MeetingService) -> None:
        self._store = store
        self._meetings = meetings

    async def mute(self, meeting_id: str, host: str, target: str, muted: bool) -> Meeting:
        """Stop (or allow again) forwarding `target`'s audio; the client is told to follow."""

        def decide(meeting: Meeting) -> dict[str, Any] | None:
            if target in meeting.hosts and target != host:
                raise Forbidden("a host cannot mute another host")
            now = set(meeting.muted)
            if (target in now) == muted:
                return None
            return {"muted": sorted(now | {target} if muted else now - {target})}

        return await self._change(meeting_id, host, target, decide)

    async def remove(self, meeting_id: str, host: str, target: str) -> Meeting:
        """Put `target` out of the meeting; they cannot join it again."""

        def decide(meeting: Meeting) -> dict[str, Any] | None:
            if target == host:
                raise BadRequest("leave the meeting instead of removing yourself")
            if target in meeting.hosts:
                raise Forbidden("a host cannot be removed; hand the host role over first")
            if target in meeting.removed:
                return None
            return {"removed": sorted({*meeting.removed, target})}

        return await self._change(meeting_id, host, target, decide)

    async def lock(self, meeting_id: str, host: str, locked: bool) -> Meeting:
        def decide(meeting: Meeting) -> dict[str, Any] | None:
            return None if meeting.locked == locked else {"locked": locked}

        return await self._change(meeting_id, host, None, decide)

    async def hand_over(self, meeting_id: str, host: str, target: str, keep: bool) -> Meeting:
        """Make `target` a host; the giver stays one only with `keep` (a co-host)."""

        def decide(meeting: Meeting) -> dict[str, Any] | None:
            if target == host:
                raise BadRequest("you are a host already")
            hosts = [h for h in meeting.hosts if keep or h != host]
            if target not in hosts:
                hosts.append(target)
            muted = [u for u in meeting.muted if u != target]  # hosts speak
            return {"hosts": hosts, "muted": muted}

        return await self._change(meeting_id, host, target, decide, refuse_removed=True)

    async def _change(self, meeting_id: str, host: str, target: str | None, decide: Decide,
                      refuse_removed: bool = False) -> Meeting:
        for _ in range(ATTEMPTS):
            meeting = await self._meetings.get(meeting_id)
            meeting.refuse_if_over()
            if not meeting.is_host(host):
                raise Forbidden("only a host can do that")
            if target is not None:
                await self._check_target(meeting, target, refuse_removed)
            changes = decide(meeting)
            if changes is None:
                return meeting  # already so: asking twice is not an error
            changed = await self._store.set_controls(meeting_id, meeting.version, changes)
            if changed is not None:
                return changed
        raise Conflict("the meeting kept changing under this request; try again")

    async def _check_target(self, meeting: Meeting, target: str, refuse_removed: bool) -> None:
        if refuse_removed and target in meeting.removed:
            raise BadRequest("that person was removed from the meeting")
        if not await self._meetings.may_join(meeting, target):
            raise BadRequest("that person is not in this meeting")
