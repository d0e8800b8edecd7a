"""smsdesk: self-hostable two-way business texting."""

__version__ = "0.1.0"
