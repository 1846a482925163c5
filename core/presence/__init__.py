"""Presence shared by every node through Redis."""
