"""Mic service: capture a sound card (or play a WAV file) and publish 16 kHz audio frames."""
