"""The router service: one conversation state machine per satellite (wake, rules, LLM, TTS)."""
