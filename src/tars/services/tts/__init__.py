"""Text-to-speech service: synthesis engines, audio sinks, playback and the phrase cache."""
