"""Transcription through an OpenAI-compatible ``/audio/transcriptions`` endpoint.

Works with OpenAI itself and with local servers that mimic it (faster-whisper
servers, whisper.cpp's server, vLLM, LocalAI). The utterance is sent as a
16 kHz mono WAV file in a multipart form. ``verbose_json`` responses carry
per-segment ``avg_logprob`` and ``no_speech_prob``, which feed the same
hallucination gates as the local backend; a plain ``json`` response gives only
the text, and those gates are then skipped.

The client is httpx's synchronous one: the call blocks, so run it off the
event loop (``asyncio.to_thread``), exactly like the local Whisper backend.
httpx clients are thread-safe, so one instance may serve several threads.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Literal

from tars.audio.pcm import SAMPLE_RATE, Int16Array
from tars.services.stt.transcriber import Transcript, TranscriptionError, wav_bytes

_LOGGER = logging.getLogger(__name__)
_BODY_SNIPPET = 300


@dataclass(frozen=True)
class OpenAIOptions:
    """Where and how to call the transcription endpoint."""

    base_url: str = "https://api.openai.com/v1"
    """API root; ``/audio/transcriptions`` is appended."""
    api_key: str | None = None
    """Bearer token; None sends no Authorization header (local servers)."""
    model: str = "whisper-1"
    """Model name sent in the form."""
    language: str = "en"
    """ISO-639-1 language hint sent in the form."""
    response_format: Literal["verbose_json", "json"] = "verbose_json"
    """``verbose_json`` for segment scores, ``json`` for servers that only do text."""
    timeout_s: float = 30.0
    """Read/write timeout of one request, in seconds."""
    connect_timeout_s: float = 5.0
    """Connect timeout, in seconds."""


class OpenAITranscriber:
    """A `Transcriber` that posts each utterance to an OpenAI-compatible server.

    Args:
        options: Endpoint, credentials and timeouts.

    Raises:
        ImportError: httpx is not installed.
    """

    def __init__(self, options: OpenAIOptions) -> None:
        try:
            import httpx
        except ImportError as err:
            raise ImportError("httpx is not installed; run `uv sync --extra stt`") from err
        self._httpx = httpx
        self._options = options
        headers = {"Authorization": f"Bearer {options.api_key}"} if options.api_key else {}
        timeout = httpx.Timeout(options.timeout_s, connect=options.connect_timeout_s)
        self._client = httpx.Client(headers=headers, timeout=timeout)
        self._url = options.base_url.rstrip("/") + "/audio/transcriptions"

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> OpenAITranscriber:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def transcribe(self, samples: Int16Array) -> Transcript:
        """Transcribe one utterance (blocking HTTP round trip).

        Raises:
            TranscriptionError: ``timeout``, ``connection`` (both retryable),
                ``http_status`` (retryable for 429 and 5xx) or ``bad_response``.
        """
        httpx = self._httpx
        form = {
            "model": self._options.model,
            "language": self._options.language,
            "response_format": self._options.response_format,
            "temperature": "0",
        }
        files = {"file": ("utterance.wav", wav_bytes(samples), "audio/wav")}
        started = time.perf_counter()
        try:
            response = self._client.post(self._url, data=form, files=files)
        except httpx.TimeoutException as err:
            raise TranscriptionError(
                "timeout", f"{self._url} did not answer in time ({err!r})", retryable=True
            ) from err
        except httpx.TransportError as err:
            raise TranscriptionError(
                "connection", f"cannot reach {self._url}: {err!r}", retryable=True
            ) from err
        elapsed = time.perf_counter() - started
        if response.status_code >= 400:
            raise _status_error(self._url, response.status_code, response.text)
        try:
            body = response.json()
        except json.JSONDecodeError as err:
            raise TranscriptionError(
                "bad_response", f"{self._url} returned non-JSON: {response.text[:_BODY_SNIPPET]!r}"
            ) from err
        return self._to_transcript(body, samples.size / SAMPLE_RATE, elapsed)

    def _to_transcript(self, body: Any, duration_s: float, elapsed_s: float) -> Transcript:
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise TranscriptionError(
                "bad_response", f"{self._url} returned no 'text': {str(body)[:_BODY_SNIPPET]!r}"
            )
        language = body.get("language")
        # OpenAI's verbose_json names the language ("english"); keep codes only.
        if not (isinstance(language, str) and len(language) == 2):
            language = self._options.language
        avg_logprob, no_speech = _segment_scores(body.get("segments"))
        return Transcript(
            text=body["text"].strip(),
            confidence=None if avg_logprob is None else math.exp(avg_logprob),
            no_speech_prob=no_speech,
            avg_logprob=avg_logprob,
            language=language,
            duration_s=duration_s,
            elapsed_s=elapsed_s,
        )


def _segment_scores(segments: Any) -> tuple[float | None, float | None]:
    """Token-weighted mean avg_logprob and no_speech_prob over verbose_json segments."""
    if not isinstance(segments, list):
        return None, None
    scored = [
        s
        for s in segments
        if isinstance(s, dict)
        and isinstance(s.get("avg_logprob"), int | float)
        and isinstance(s.get("no_speech_prob"), int | float)
    ]
    if not scored:
        return None, None
    weights = [max(1, len(s["tokens"])) if isinstance(s.get("tokens"), list) else 1 for s in scored]
    total = sum(weights)
    avg = sum(float(s["avg_logprob"]) * w for s, w in zip(scored, weights, strict=True)) / total
    nsp = sum(float(s["no_speech_prob"]) * w for s, w in zip(scored, weights, strict=True)) / total
    return avg, nsp


def _status_error(url: str, status: int, text: str) -> TranscriptionError:
    detail = text[:_BODY_SNIPPET]
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        detail = str(parsed["error"].get("message", detail))
    retryable = status == 429 or status >= 500
    _LOGGER.warning("transcription request failed: HTTP %s from %s", status, url)
    return TranscriptionError(
        "http_status", f"HTTP {status} from {url}: {detail}", retryable=retryable
    )
