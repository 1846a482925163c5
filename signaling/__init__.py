"""The edge: aiohttp app, Socket.IO server, REST routes. Translates the wire to service calls."""
