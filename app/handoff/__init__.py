"""Human hand-off: the queue of conversations waiting for a person (the console builds on it)."""
