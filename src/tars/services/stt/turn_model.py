"""Turn models: the probability, from the audio alone, that the speaker has finished.

`SmartTurnModel` runs Smart Turn v3.2 (pipecat's int8 ONNX Whisper-tiny encoder with a
classification head, BSD-2-Clause) with onnxruntime. Only the model file is taken from the
``pipecat-ai`` wheel; pipecat itself is never imported (its import pulls a large tree of
packages). It hears prosody: a voice that falls at the end of a sentence sounds finished, a
voice held level mid-sentence does not, whatever the words.

Inference is CPU work (about 60-100 ms on one thread on a small x86 core): call
`TurnModel.complete_probability` off the event loop.
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
import time
from pathlib import Path
from typing import Protocol

import numpy as np

from tars.audio.pcm import Int16Array, int16_to_float
from tars.services.stt.melspec import fit_window, log_mel

_LOGGER = logging.getLogger(__name__)

SMART_TURN_FILE = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
"""Where the model lies inside the pipecat-ai distribution."""


class TurnModel(Protocol):
    """Judges from the audio whether a turn is complete."""

    def complete_probability(self, samples: Int16Array) -> float:
        """Probability (0-1) that the speaker finished at the end of ``samples`` (blocking)."""
        ...


class TurnModelError(RuntimeError):
    """The turn model cannot be found or loaded."""


def smart_turn_path() -> Path:
    """The Smart Turn v3.2 ONNX file shipped in the pipecat-ai wheel.

    Raises:
        TurnModelError: pipecat-ai is not installed or lacks the file.
    """
    try:
        distribution = importlib.metadata.distribution("pipecat-ai")
    except importlib.metadata.PackageNotFoundError as err:
        raise TurnModelError(
            "pipecat-ai (which ships the Smart Turn model) is not installed; "
            "run `uv sync --extra stt`, or set STT_END_OF_TURN=punctuation"
        ) from err
    path = Path(str(distribution.locate_file(SMART_TURN_FILE)))
    if not path.is_file():
        raise TurnModelError(f"pipecat-ai {distribution.version} has no {SMART_TURN_FILE}")
    return path


class SmartTurnModel:
    """Smart Turn v3.2 on onnxruntime.

    Calls are serialised with a lock, so one instance serves every satellite.

    Args:
        model_path: An alternative Smart Turn ONNX file; the one in pipecat-ai by default.
        threads: onnxruntime intra-op threads (1 leaves the other cores to Whisper).

    Raises:
        TurnModelError: the model cannot be found or loaded.
    """

    def __init__(self, model_path: Path | None = None, threads: int = 1) -> None:
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise TurnModelError("onnxruntime is not installed; run `uv sync --extra stt`") from err
        path = model_path or smart_turn_path()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        started = time.perf_counter()
        try:
            self._session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime raises its own untyped errors
            raise TurnModelError(f"cannot load the turn model {path}: {err}") from err
        self._input = self._session.get_inputs()[0].name
        self._lock = threading.Lock()
        _LOGGER.info("loaded Smart Turn from %s in %.2f s", path, time.perf_counter() - started)

    def complete_probability(self, samples: Int16Array) -> float:
        """Probability (0-1) that the speaker finished at the end of ``samples`` (blocking)."""
        features = log_mel(fit_window(int16_to_float(samples)))[None, :, :]
        with self._lock:
            (output,) = self._session.run(None, {self._input: features})
        return float(np.clip(np.asarray(output).reshape(-1)[0], 0.0, 1.0))

    def warm_up(self) -> None:
        """One inference on silence, so the first real call does not pay for set-up."""
        self.complete_probability(np.zeros(16000, dtype=np.int16))
