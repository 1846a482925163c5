"""The load generator end to end, small enough for the suite: chat-fanout against the two
reference servers and Xietong, checking that every message reached every member of its group;
card-storm against Xietong, checking that every card and card:update reached every holder;
room-grid, checking that every booking was made and exactly one racer won; meeting, checking
that every subscriber of both servers received the video and that Xietong decoded nothing.
Speed goals are the benchmark's to report, not assertions here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtest.media_peers import CounterTrack, read_counter
from loadtest.report import Summary, format_table, percentile
from loadtest.scenarios import card_storm, chat_fanout, meeting, room_grid

SERVERS = ("node", "python", "xietong")


@pytest.mark.timeout(240)
async def test_chat_fanout_delivers_every_message_to_every_member(tmp_path: Path) -> None:
    options = chat_fanout.Options(
        servers=SERVERS, clients=20, groups=2, rates=(20,), duration=2.0, warmup=0.5,
        drain=5.0, idle_sockets=10, settle=0.2, out=tmp_path / "report.json",
        workdir=tmp_path / "work")

    document = await chat_fanout.run(options)

    by_server = {s["server"]: s for s in document["servers"]}
    assert list(by_server) == list(SERVERS)
    assert {name: s["error"] for name, s in by_server.items() if s["error"]} == {}
    for name, server in by_server.items():
        [step] = server["steps"]
        assert step["sent"] == 40, name  # 20/s for 2 s
        assert step["expected"] == 40 * 10, name  # two groups of ten, the sender included
        assert (step["delivered"], step["lost"], step["duplicated"]) == (400, 0, 0), name
        assert step["incomplete_members"] == 0, name
        assert (step["send_errors"], step["ack_errors"], step["unacked"]) == (0, 0, 0), name
        assert step["latency_ms"]["count"] == 400, name
        assert 0 < step["latency_ms"]["p50"] <= step["latency_ms"]["p99"] \
            <= step["latency_ms"]["max"], name
        assert step["srv_rss_mb"] > 0 and step["srv_cpu_pct"] >= 0, name
        idle = server["idle"]
        assert idle["sockets"] == 10 and 0 < idle["rss_mb"] <= idle["rss2_mb"] * 1.1, name

    assert json.loads((tmp_path / "report.json").read_text())["servers"][0]["server"] == "node"
    table = chat_fanout.format_report(document)
    rows = [line.split() for line in table.splitlines()]
    step_rows = [r for r in rows if r and r[0] in SERVERS and r[1] == "20"]
    assert [r[0] for r in step_rows] == list(SERVERS)
    assert all(r[3] != "-" and int(r[7]) == 0 for r in step_rows)  # delivered/s, lost
    idle_rows = [r for r in rows if r and r[0] in SERVERS and r[1] != "20"]
    assert [r[0] for r in idle_rows] == list(SERVERS)


@pytest.mark.timeout(120)
async def test_card_storm_reaches_every_holder_and_approves_every_card(tmp_path: Path) -> None:
    options = card_storm.Options(holders=20, approvers=10, rounds=1, timeout=20.0,
                                 out=tmp_path / "storm.json", workdir=tmp_path / "work")

    document = await card_storm.run(options)

    assert document["error"] is None
    part_a, part_b = document["part_a"], document["part_b"]
    assert (part_a["error"], part_b["error"], part_b["first_error"]) == (None, None, None)
    expected = {
        "part_a": {"post": 1, "delivery": 20, "act_ack": 1, "update": 20, "update_all": 1,
                   "callback": 1, "outcome": 20},
        "part_b": {"start_ack": 10, "to_head": 10, "act_ack": 10, "update": 20,
                   "update_card": 10}}
    for key, counts in expected.items():
        measures = document[key]["measures"]
        assert {name: (m["ms"]["count"], m["lost"]) for name, m in measures.items()} \
            == {name: (count, 0) for name, count in counts.items()}, key
        assert all(0 < m["ms"]["p50"] <= m["ms"]["p99"] <= m["ms"]["max"]
                   for m in measures.values()), key
        assert document[key]["load"]["srv_cpu_pct"] >= 0, key
    [first] = part_a["rounds"]
    assert (first["delivered"], first["updated"], first["outcome_shown"]) == (20, 20, 20)
    heads = [head for _, head in part_b["pairs"]]
    assert len(heads) == len(set(heads)) == 10
    assert (part_b["statuses"], part_b["not_approved"]) == ({"approved": 10}, 0)
    assert document["duplicates"] == 0 and 20 <= document["sockets"] <= 20 + 2 * 10
    assert not card_storm.failed(document)

    written = json.loads((tmp_path / "storm.json").read_text())
    assert written["part_b"]["statuses"] == {"approved": 10}
    table = card_storm.format_report(document)
    goal_rows = [line for line in table.splitlines() if line.endswith(("met", "missed"))]
    assert [line.split()[0] for line in goal_rows] == ["A", "B", "B"]
    assert all(line.split()[-2] == "0" for line in goal_rows)  # lost


@pytest.mark.timeout(240)
async def test_room_grid_books_every_series_and_exactly_one_racer_wins(tmp_path: Path) -> None:
    options = room_grid.Options(rooms=6, buildings=2, series=2, days=3, queries=4, racers=8,
                                out=tmp_path / "rooms.json", workdir=tmp_path / "work")

    document = await room_grid.run(options)

    assert document["error"] is None
    assert (document["rooms"], document["bookings"]) == (6, 6 * 2 * 3)
    assert document["race"] == {"created": 1, "conflicts": 7, "other": 0, "held": 1}
    counts = [m["ms"]["count"] for m in document["measures"]]
    assert counts == [4, 4, 10]
    assert not room_grid.failed(document)
    assert json.loads((tmp_path / "rooms.json").read_text())["race"]["created"] == 1
    assert "1 created, 7 conflict" in room_grid.format_report(document)


@pytest.mark.timeout(240)
async def test_meeting_video_reaches_every_subscriber_of_both_servers_undecoded_by_xietong(
        tmp_path: Path) -> None:
    options = meeting.Options(counts=(1, 2), warmup=1.0, duration=2.0,
                              out=tmp_path / "meeting.json", workdir=tmp_path / "work")

    document = await meeting.run(options)

    assert document["error"] is None
    rows = document["rows"]
    assert [(r["server"], r["n"]) for r in rows] == [
        ("xietong", 1), ("xietong", 2), ("reference", 1), ("reference", 2)]
    for row in rows:
        assert row["fps_min"] > 10 and row["probe_fps"] > 10, row
        assert row["latency_ms"]["count"] > 0 and row["direct_ms"]["count"] > 0, row
        assert row["added_ms"]["count"] > 0, row  # frames seen over both paths are paired
        assert row["pps_median"] > row["fps_median"], row  # a frame is one packet or more
        assert row["srv_cores"] > 0, row
    counters = rows[1]["server_counters"]
    assert counters["packets_out"] > 0
    assert counters["frames_decoded"] == 0 and counters["frames_encoded"] == 0
    assert not meeting.failed(document)
    assert document["marginal_cores"] == {"xietong": None, "reference": None}  # no N=8
    assert set(document["added_p99_ms"]) == {1, 2}
    assert json.loads((tmp_path / "meeting.json").read_text())["rows"][0]["server"] == "xietong"
    assert "p99 added over the direct call" in meeting.format_report(document)


async def test_the_frame_number_drawn_by_the_publisher_survives_vp8() -> None:
    from aiortc.codecs.vpx import Vp8Decoder, Vp8Encoder, vp8_depayload
    from aiortc.jitterbuffer import JitterFrame

    track = CounterTrack()
    track.number = 40_961
    encoder, decoder = Vp8Encoder(), Vp8Decoder()
    for expected in (40_961, 40_962):
        frame = await track.recv()
        assert read_counter(frame) == expected
        payloads, timestamp = encoder.encode(frame, force_keyframe=True)
        depacketised = b"".join(vp8_depayload(p) for p in payloads)
        [decoded] = decoder.decode(JitterFrame(data=depacketised, timestamp=timestamp))
        assert read_counter(decoded) == expected
    assert set(track.sent_at) == {40_961, 40_962}
    track.stop()


def test_report_percentiles_and_table() -> None:
    values = list(range(1, 101))
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) \
        == (50, 99, 100)
    assert Summary.of([3.0, 1.0, 2.0]) == Summary(3, 2.0, 3.0, 3.0, 3.0)
    table = format_table([chat_fanout.STEP_COLUMNS[0], chat_fanout.STEP_COLUMNS[1]],
                         [{"server": "node", "rate": 800.0}, {"server": "x"}])
    assert table.splitlines() == ["server  target/s", "node         800", "x              -"]
