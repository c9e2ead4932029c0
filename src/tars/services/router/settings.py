"""Settings of the router service, read once from ``ROUTER_*`` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tars.runtime.settings import TarsSettings


def split_phrases(value: str) -> tuple[str, ...]:
    """Split a ``|``-separated setting into its non-empty, stripped phrases."""
    return tuple(part.strip() for part in value.split("|") if part.strip())


class RouterSettings(TarsSettings):
    """Configuration of the router: windows, phrases, rules, LLM streaming and timeouts."""

    model_config = SettingsConfigDict(env_prefix="ROUTER_", frozen=True, extra="ignore")

    wake_phrases: str = "hey tars|okay nabu|ok nabu|hey jarvis|hey mycroft|alexa"
    """Wake phrases stripped from the start of a transcript, "|"-separated."""
    wake_window_s: float = Field(default=8.0, gt=0)
    """How long after a wake word a transcript is accepted, seconds (py-tars 8)."""
    followup_window_s: float = Field(default=10.0, ge=0)
    """How long after a spoken reply a follow-up needs no wake word, seconds (0 = off)."""
    speech_extend_s: float = Field(default=3.0, ge=0)
    """A partial transcript keeps an open window open at least this long, seconds."""
    wake_ack_enabled: bool = True
    """Acknowledge a bare wake word with a short phrase (py-tars default on)."""
    wake_ack_choices: str = "Hmm?|Huh?|Yes?"
    """Acknowledgement phrases, used in turn, "|"-separated."""
    wake_ack_delay_s: float = Field(default=0.3, ge=0)
    """Wait this long for speech after a wake word before acknowledging, seconds."""
    live_mode_default: bool = False
    """Start in live mode (every transcript is addressed to TARS, no wake word)."""
    live_mode_enter_phrases: str = "enter live mode|start live mode"
    """Utterances that turn live mode on, "|"-separated."""
    live_mode_exit_phrases: str = "exit live mode|stop live mode|leave live mode|end live mode"
    """Utterances that turn live mode off, "|"-separated."""
    live_mode_enter_ack: str = "Live mode enabled."
    """Spoken when live mode turns on."""
    live_mode_exit_ack: str = "Live mode disabled."
    """Spoken when live mode turns off."""
    online_announce: bool = True
    """Say the online announcement once TTS and STT are healthy."""
    online_announce_text: str = "System online."
    """The online announcement."""
    greeting_reply: str = "Hello! How can I help?"
    """Answer to an utterance that is only a greeting."""
    apology_text: str = "Sorry, I couldn't think of an answer just now."
    """Spoken when the LLM fails or times out."""
    history_max_messages: int = Field(default=10, ge=0)
    """Messages of history (user and assistant) sent with each LLM request, per satellite."""
    llm_timeout_s: float = Field(default=20.0, gt=0)
    """Longest wait for the first (or next) LLM stream delta or the response, seconds."""
    llm_use_rag: bool | None = None
    """Ask the LLM to retrieve memories (unset: the llm service default)."""
    stream_boundary_chars: str = ".!?;:"
    """Characters that end a streamed sentence (py-tars ROUTER_STREAM_BOUNDARY_CHARS)."""
    stream_hard_max_chars: int = Field(default=2000, gt=0)
    """Longest streamed chunk before a cut at a space, characters."""
    timer_max_s: float = Field(default=86400.0, gt=0)
    """Longest timer accepted, seconds."""
