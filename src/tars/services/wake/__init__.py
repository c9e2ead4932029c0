"""Wake service: wake-word detection on audio frames and barge-in while TTS speaks."""
