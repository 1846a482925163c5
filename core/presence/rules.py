"""Presence rules. Pure: state and `now` in, a decision out."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


@dataclass(frozen=True)
class Device:
    id: str  # "<node_id>:<sid>"
    kind: str  # web, desktop, mobile, sdk
    connected_at: float
    active_at: float

    @property
    def node_id(self) -> str:
        return self.id.rsplit(":", 1)[0]

    def encode(self) -> str:
        return json.dumps({"kind": self.kind, "connected_at": self.connected_at,
                           "active_at": self.active_at})

    @classmethod
    def decode(cls, device_id: str, raw: str) -> Device:
        data = json.loads(raw)
        return cls(device_id, str(data["kind"]), float(data["connected_at"]),
                   float(data["active_at"]))


@dataclass(frozen=True)
class Snapshot:
    """What watchers see of a user; a push happens only when this changes."""

    status: Status
    devices: tuple[str, ...]  # the kinds of connected device, sorted and distinct

    def encode(self) -> str:
        return f"{self.status}|{','.join(self.devices)}"

    @classmethod
    def decode(cls, raw: str | None) -> Snapshot:
        if not raw:
            return OFFLINE
        status, _, devices = raw.partition("|")
        return cls(Status(status), tuple(d for d in devices.split(",") if d))

    def to_wire(self) -> dict[str, Any]:
        return {"status": str(self.status), "devices": list(self.devices)}


OFFLINE = Snapshot(Status.OFFLINE, ())


def compute_snapshot(devices: Iterable[Device], manual_away: bool, now: float,
                     idle_after: float) -> Snapshot:
    """`online` while any device was active within `idle_after`; `away` when every device
    has been idle longer, or the user said so; `offline` with no device connected."""
    devices = list(devices)
    if not devices:
        return OFFLINE
    kinds = tuple(sorted({d.kind for d in devices}))
    active = any(now - d.active_at <= idle_after for d in devices)
    status = Status.ONLINE if active and not manual_away else Status.AWAY
    return Snapshot(status, kinds)


def is_idle(device: Device, now: float, idle_after: float) -> bool:
    return now - device.active_at > idle_after
