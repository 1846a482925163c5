"""REST routes under /api/v1, plus /healthz, /metrics and the web client."""
