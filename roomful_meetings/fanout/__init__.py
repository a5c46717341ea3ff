"""Delivering events: Redis pub/sub in, local connections out."""
