"""Build the stt engines from `SttSettings` (one place for the mapping)."""

from __future__ import annotations

from tars.services.stt.endpoint import SegmenterConfig, UtteranceSegmenter
from tars.services.stt.filter_rules import Thresholds, build_chain
from tars.services.stt.filters import Evidence, FilterChain
from tars.services.stt.noise import NoiseFloorConfig
from tars.services.stt.settings import SttSettings
from tars.services.stt.transcriber import Transcriber
from tars.services.stt.turn import EndOfTurnPolicy
from tars.services.stt.turn_model import TurnModel
from tars.services.stt.vad import SileroVad, VoiceActivityDetector


def segmenter_config(settings: SttSettings) -> SegmenterConfig:
    """The segmenter thresholds and timings from settings."""
    noise = NoiseFloorConfig(
        min_rms=settings.noise_min_rms,
        calibration_s=settings.noise_floor_calib_s,
        alpha=settings.noise_floor_alpha,
        multiplier=settings.noise_floor_multiplier,
    )
    return SegmenterConfig(
        threshold=settings.vad_threshold,
        release_threshold=settings.vad_release_threshold,
        min_speech_ms=settings.min_speech_ms,
        double_talk_threshold=settings.vad_double_talk_threshold,
        double_talk_min_speech_ms=settings.min_speech_double_talk_ms,
        pre_roll_ms=settings.pre_roll_ms,
        hangover_ms=settings.hangover_ms,
        tail_ms=settings.tail_ms,
        max_utterance_s=settings.max_utterance_s,
        partial_interval_ms=settings.partial_interval_ms,
        partial_min_ms=settings.partial_min_ms,
        pause_partial_ms=settings.pause_partial_ms,
        noise_gate=noise if settings.noise_gate else None,
    )


def build_segmenter(
    settings: SttSettings, vad: VoiceActivityDetector | None = None
) -> UtteranceSegmenter:
    """A segmenter for one audio stream (one per satellite); Silero VAD by default."""
    return UtteranceSegmenter(vad or SileroVad(), segmenter_config(settings))


def build_transcriber(settings: SttSettings) -> Transcriber:
    """The configured backend; loading Whisper blocks, so call this off the event loop."""
    if settings.backend == "openai":
        from tars.services.stt.openai_engine import OpenAIOptions, OpenAITranscriber

        key = settings.openai_api_key
        return OpenAITranscriber(
            OpenAIOptions(
                base_url=settings.openai_base_url,
                api_key=key.get_secret_value() if key else None,
                model=settings.openai_model,
                language=settings.language,
                response_format=settings.openai_response_format,
                timeout_s=settings.openai_timeout_s,
                connect_timeout_s=settings.openai_connect_timeout_s,
            )
        )
    from tars.services.stt.whisper_engine import WhisperOptions, WhisperTranscriber

    return WhisperTranscriber(
        WhisperOptions(
            model=settings.model,
            data_dir=settings.data_dir or WhisperOptions.data_dir,
            beam_size=settings.beam_size,
            cpu_threads=settings.cpu_threads,
            device=settings.device,
            compute_type=settings.compute_type,
            language=settings.language,
            window_s=settings.window_s,
        )
    )


def filter_thresholds(settings: SttSettings) -> Thresholds:
    """The suppression thresholds from settings."""
    return Thresholds(
        min_duration_s=settings.min_duration_ms / 1000,
        min_rms=settings.noise_min_rms,
        min_active_ratio=settings.min_active_ratio,
        min_length=settings.min_length,
        min_alpha_ratio=settings.min_alpha_ratio,
        max_punct_ratio=settings.max_punct_ratio,
        min_common_ratio=settings.dict_match_min_ratio,
        min_common_ratio_response=settings.dict_match_min_ratio_response,
        max_no_speech=settings.no_speech_max,
        min_avg_logprob=settings.avg_logprob_min,
        bypass_confidence=settings.confidence_bypass,
        evidence=Evidence(
            max_no_speech=settings.strong_no_speech_max,
            min_avg_logprob=settings.strong_logprob_min,
            min_active_ratio=settings.strong_active_ratio_min,
        ),
        cough_phrases=settings.cough_phrases,
        cough_min_duration_s=settings.cough_min_duration_ms / 1000,
        cough_min_active_ratio=settings.cough_active_min_ratio,
        cough_min_syllables=settings.cough_min_syllables,
        repeat_cooldown_s=settings.repeat_cooldown_s,
        echo_min_ratio=settings.echo_fuzz_min_ratio,
        recent_count=settings.recent_phrase_count,
        common_words_extra=settings.common_words_extra,
        allowed_short=settings.allowed_short_commands,
    )


def build_filter_chain(settings: SttSettings) -> FilterChain:
    """The py-tars suppression chain with the configured thresholds."""
    return build_chain(filter_thresholds(settings))


def build_turn_policy(settings: SttSettings) -> EndOfTurnPolicy:
    """The end-of-turn policy from settings."""
    return EndOfTurnPolicy(
        mode=settings.end_of_turn,
        threshold=settings.turn_threshold,
        complete_ms=settings.turn_complete_hangover_ms,
        open_ms=settings.turn_open_hangover_ms,
        unsure_ms=settings.turn_unsure_hangover_ms,
        incomplete_ms=settings.turn_incomplete_hangover_ms,
        default_ms=settings.hangover_ms,
        punctuation_ms=settings.short_hangover_ms,
    )


def build_turn_model(settings: SttSettings) -> TurnModel | None:
    """The turn model when the policy uses one (loading blocks: call it off the loop)."""
    if settings.end_of_turn != "model":
        return None
    from tars.services.stt.turn_model import SmartTurnModel

    model = SmartTurnModel(settings.turn_model_path, threads=settings.turn_model_threads)
    model.warm_up()
    return model
