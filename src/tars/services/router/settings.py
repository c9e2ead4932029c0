"""Settings of the router service, read once from ``ROUTER_*`` environment variables."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tars.runtime.settings import TarsSettings

MOVED_TO_CONVERSATION = {
    "ROUTER_WAKE_PHRASES": "TARS_WAKE_PHRASES",
    "ROUTER_WAKE_WINDOW_S": "TARS_WAKE_WINDOW_S",
    "ROUTER_FOLLOWUP_WINDOW_S": "TARS_FOLLOWUP_WINDOW_S",
    "ROUTER_LIVE_MODE_DEFAULT": "TARS_LIVE_MODE",
}
"""Router variables that moved to the conversation clock shared with stt: old -> new name."""


def moved_variables(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """The moved variables still set in ``environ`` (they are ignored), with their new names."""
    return [(old, new) for old, new in MOVED_TO_CONVERSATION.items() if old in environ]


def split_phrases(value: str) -> tuple[str, ...]:
    """Split a ``|``-separated setting into its non-empty, stripped phrases."""
    return tuple(part.strip() for part in value.split("|") if part.strip())


class RouterSettings(TarsSettings):
    """Configuration of the router: phrases, rules, LLM streaming and timeouts.

    The conversation clock (wake phrases, wake/follow-up windows, live mode at start) is
    shared with stt and lives in :class:`tars.runtime.settings.ConversationSettings`.
    """

    model_config = SettingsConfigDict(env_prefix="ROUTER_", frozen=True, extra="ignore")

    speech_extend_s: float = Field(default=3.0, ge=0)
    """A partial transcript keeps an open window open at least this long, seconds."""
    wake_ack_enabled: bool = True
    """Acknowledge a bare wake word with a short phrase (py-tars default on)."""
    wake_ack_choices: str = "Hmm?|Huh?|Yes?"
    """Acknowledgement phrases, used in turn, "|"-separated."""
    wake_ack_delay_s: float = Field(default=0.3, ge=0)
    """Wait this long for speech after a wake word before acknowledging, seconds."""
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
    not_heard_text: str = "Sorry, I didn't catch that."
    """Spoken when stt rejects what followed a wake word or a barge-in (empty: say nothing)."""
    no_llm_text: str = (
        "I can only do simple things like the time, timers and repeating after you: "
        "no language model is running."
    )
    """Said at once to a request no rule answers while no llm is healthy (empty: ask anyway)."""
    history_max_messages: int = Field(default=10, ge=0)
    """Messages of history (user and assistant) sent with each LLM request, per satellite."""
    llm_timeout_s: float = Field(default=20.0, gt=0)
    """Longest wait for the first (or next) LLM stream delta or the response, seconds."""
    llm_use_rag: bool | None = None
    """Ask the LLM to retrieve memories (unset: the llm service default)."""
    preempt_llm: bool = True
    """Ask the LLM already at a pause that may end the turn (its words do not stop
    mid-sentence), before stt's final; the reply is kept when the final says the same and
    cancelled when the user goes on."""
    llm_prefill: bool = True
    """After each remembered turn, have the LLM read the history while nobody waits
    (``llm/prefill``), so the next question reads only its own words."""
    preempt_hold_s: float = Field(default=4.0, gt=0)
    """A preemptive request whose final has not come after this long is cancelled, seconds."""
    stream_boundary_chars: str = ".!?;:"
    """Characters that end a streamed sentence (py-tars ROUTER_STREAM_BOUNDARY_CHARS)."""
    stream_hard_max_chars: int = Field(default=2000, gt=0)
    """Longest streamed chunk before a cut at a space, characters."""
    timer_max_s: float = Field(default=86400.0, gt=0)
    """Longest timer accepted, seconds."""
