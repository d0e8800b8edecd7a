"""The AI layer's fixtures live in tests/conftest.py (the chat test uses them too)."""
