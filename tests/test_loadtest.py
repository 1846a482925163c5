"""The load generator end to end: chat-fanout against the two reference servers and Xietong,
small enough for the suite, checking that every message reached every member of its group."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtest.report import Summary, format_table, percentile
from loadtest.scenarios import chat_fanout

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


def test_report_percentiles_and_table() -> None:
    values = list(range(1, 101))
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) \
        == (50, 99, 100)
    assert Summary.of([3.0, 1.0, 2.0]) == Summary(3, 2.0, 3.0, 3.0)
    table = format_table([chat_fanout.STEP_COLUMNS[0], chat_fanout.STEP_COLUMNS[1]],
                         [{"server": "node", "rate": 800.0}, {"server": "x"}])
    assert table.splitlines() == ["server  target/s", "node         800", "x              -"]
