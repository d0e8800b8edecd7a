"""Channels: the edge where texts come in from and go out to an SMS provider."""
