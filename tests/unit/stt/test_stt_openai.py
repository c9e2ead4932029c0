"""OpenAITranscriber against a real HTTP server on 127.0.0.1 (stdlib, in a thread)."""

from __future__ import annotations

import io
import socket
import wave
from collections.abc import Iterator

import pytest
from tests.support.transcription_server import Server, transcription_server

from tars.audio.pcm import SAMPLE_RATE, tone
from tars.services.stt.openai_engine import OpenAIOptions, OpenAITranscriber
from tars.services.stt.transcriber import TranscriptionError


@pytest.fixture
def server() -> Iterator[Server]:
    with transcription_server() as running_server:
        yield running_server


def transcriber(url: str, **options: object) -> OpenAITranscriber:
    return OpenAITranscriber(OpenAIOptions(base_url=url, **options))  # type: ignore[arg-type]


def test_posts_a_wav_form_and_parses_verbose_json(server: Server) -> None:
    samples = tone(0.5, 300.0)
    with transcriber(server.url + "/", api_key="sk-test", model="whisper-x") as client:
        result = client.transcribe(samples)

    [request] = server.seen
    assert request.path == "/v1/audio/transcriptions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.form == {
        "model": "whisper-x",
        "language": "en",
        "response_format": "verbose_json",
        "temperature": "0",
    }
    filename, content_type, wav_data = request.files["file"]
    assert (filename, content_type) == ("utterance.wav", "audio/wav")
    with wave.open(io.BytesIO(wav_data), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, SAMPLE_RATE)
        assert wav.readframes(wav.getnframes()) == samples.astype("<i2").tobytes()

    assert result.text == "Turn on the kitchen lights."
    assert result.language == "en"
    assert result.avg_logprob == pytest.approx((-0.2 * 3 - 0.6) / 4)
    assert result.no_speech_prob == pytest.approx((0.1 * 3 + 0.3) / 4)
    assert result.confidence is not None
    assert 0 < result.confidence < 1
    assert result.duration_s == pytest.approx(0.5)
    assert result.elapsed_s > 0


def test_plain_json_gives_text_only(server: Server) -> None:
    server.reply.body = b'{"text": "hello there"}'
    with transcriber(server.url, response_format="json") as client:
        result = client.transcribe(tone(0.2, 300.0))
    assert server.seen[0].form["response_format"] == "json"
    assert "authorization" not in server.seen[0].headers
    assert (result.text, result.confidence, result.no_speech_prob) == ("hello there", None, None)


def test_read_timeout_maps_to_a_retryable_error(server: Server) -> None:
    server.reply.delay_s = 5.0
    with (
        transcriber(server.url, timeout_s=0.3) as client,
        pytest.raises(TranscriptionError) as caught,
    ):
        client.transcribe(tone(0.2, 300.0))
    assert caught.value.code == "timeout"
    assert caught.value.retryable
    assert "did not answer in time" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "retryable", "detail"),
    [
        (401, b'{"error": {"message": "Invalid API key"}}', False, "Invalid API key"),
        (503, b"overloaded", True, "overloaded"),
        (429, b'{"error": "slow down"}', True, "slow down"),
    ],
)
def test_http_errors_map_to_http_status(
    server: Server, status: int, body: bytes, retryable: bool, detail: str
) -> None:
    server.reply.status = status
    server.reply.body = body
    with transcriber(server.url) as client, pytest.raises(TranscriptionError) as caught:
        client.transcribe(tone(0.2, 300.0))
    assert caught.value.code == "http_status"
    assert caught.value.retryable is retryable
    assert f"HTTP {status}" in caught.value.message
    assert detail in caught.value.message


@pytest.mark.parametrize("body", [b"<html>oops</html>", b'{"segments": []}', b"[1, 2]"])
def test_bad_bodies_map_to_bad_response(server: Server, body: bytes) -> None:
    server.reply.body = body
    with transcriber(server.url) as client, pytest.raises(TranscriptionError) as caught:
        client.transcribe(tone(0.2, 300.0))
    assert caught.value.code == "bad_response"
    assert not caught.value.retryable


def test_refused_connection_maps_to_connection() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port any more.
    with (
        transcriber(f"http://127.0.0.1:{port}/v1", connect_timeout_s=1.0) as client,
        pytest.raises(TranscriptionError) as caught,
    ):
        client.transcribe(tone(0.2, 300.0))
    assert caught.value.code == "connection"
    assert caught.value.retryable
