"""Speech-to-text service: VAD, end of speech, transcription, partials and filters."""
