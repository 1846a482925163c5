"""Client-side helpers for applications integrating with Xietong (stdlib only)."""
