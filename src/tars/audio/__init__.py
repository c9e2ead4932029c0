"""Audio helpers shared by services, tests and benchmarks (PCM, WAV, synthesised speech)."""
