"""Slow, obviously-correct references the fast implementations are tested against."""
