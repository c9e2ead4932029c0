"""Text utilities shared by services (sentence chunking of streamed replies)."""
