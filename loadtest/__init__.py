"""Load tests: `python -m loadtest SCENARIO [options]`, one module per scenario in
`loadtest/scenarios/` (`chat-fanout` is `scenarios/chat_fanout.py`).

The generator is one process: a minimal Socket.IO client (`wire.py`) drives the sockets, the
servers under test run as its children on free loopback ports (`servers.py`, `procs.py`), and
`report.py` turns the numbers into tables and JSON.
"""
