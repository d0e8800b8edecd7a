"""Outbound: the gate at send time, the provider, retries, scheduling, cancellation on opt-out."""
