"""The demo organisation's meeting rooms (seeded with the demo directory of PROTOCOL §1): four
rooms of the main building, managed by `roommgr`, belonging to the office (办公室)."""

from __future__ import annotations

from datetime import time

from rooms.catalogue_store import RoomStore
from rooms.models import OpenHours, Room

_DAY = OpenHours(time(8, 0), time(18, 0))


def demo_rooms() -> list[Room]:
    def room(room_id: str, name: str, floor: str, capacity: int, area_m2: float,
             equipment: set[str], requires_approval: bool = False) -> Room:
        return Room(id=room_id, name=name, building="主楼", floor=floor, capacity=capacity,
                    area_m2=area_m2, equipment=frozenset(equipment),
                    requires_approval=requires_approval, managers=("roommgr",),
                    open_hours=_DAY, dept_id="office")

    return [
        room("room-main-301", "第一会议室", "3", 8, 24.0, {"screen_share", "whiteboard", "wifi"}),
        room("room-main-302", "第二会议室", "3", 20, 48.0,
             {"projector", "microphone", "wired_network", "wifi"}),
        room("room-main-501", "视频会议室", "5", 30, 60.0,
             {"video_conf", "microphone", "screen_share", "wired_network", "wifi"}),
        room("room-main-101", "多功能厅", "1", 120, 260.0,
             {"projector", "screen_share", "video_conf", "microphone", "wired_network", "wifi"},
             requires_approval=True),
    ]


async def seed_demo_rooms(store: RoomStore) -> int:
    """Insert the demo rooms that are missing (by their fixed ids); how many were."""
    inserted = 0
    for room in demo_rooms():
        inserted += await store.insert(room)
    return inserted
