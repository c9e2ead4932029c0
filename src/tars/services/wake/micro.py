"""microWakeWord models (pymicro-wakeword) as a `WakeScorer`, and the default detector factory.

Synchronous and CPU-bound (about 2 ms of CPU per second of audio): run it off the event loop.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from tars.audio.pcm import Int16Array, int16_to_bytes
from tars.services.wake.detector import DEFAULT_RETRIGGER_S, ENERGY_WINDOW_S, ThresholdDetector

_LOGGER = logging.getLogger(__name__)

BUILTIN_WAKE_WORDS = ("okay_nabu", "hey_jarvis", "hey_mycroft", "alexa")
"""Wake words bundled with pymicro-wakeword, selectable by name."""
_BARE_TFLITE_CUTOFF = 0.9
"""Threshold for a user .tflite that has no JSON config (the bundled cutoffs are 0.85-0.97)."""
_BARE_TFLITE_WINDOW = 5
"""Probabilities averaged per decision for a user .tflite without a config (as bundled ones)."""
_EXTRA_HINT = "uv sync --extra wake"


class WakeModelError(RuntimeError):
    """The configured wake-word model cannot be found or loaded."""


class MicroWakeWordScorer:
    """A `WakeScorer` backed by pymicro-wakeword (microWakeWord TFLite models).

    Audio is turned into features by pymicro-features in 10 ms steps; the model runs every
    third step and reports the mean of its last few outputs.
    """

    def __init__(self, model: str = "okay_nabu") -> None:
        """Load a bundled word by name or a user model (.json config or .tflite) by path.

        Raises:
            ImportError: pymicro-wakeword is not installed.
            WakeModelError: the model is unknown, missing or not a microWakeWord model.
        """
        try:
            from pymicro_wakeword import MicroWakeWordFeatures
        except ImportError as err:
            raise ImportError(f"pymicro-wakeword is not installed ({_EXTRA_HINT})") from err
        self._model = _load_model(model)
        self._features = MicroWakeWordFeatures()
        _LOGGER.info(
            "wake model %s (%r) loaded, cutoff %.2f",
            self._model.id,
            self._model.wake_word,
            self._model.probability_cutoff,
        )

    @property
    def wake_word(self) -> str:
        """Model id, e.g. ``okay_nabu`` (a user model's file stem)."""
        return str(self._model.id)

    @property
    def phrase(self) -> str:
        """The spoken phrase, e.g. ``Okay Nabu``."""
        return str(self._model.wake_word)

    @property
    def default_threshold(self) -> float:
        """The probability cutoff from the model's config, 0-1."""
        return float(self._model.probability_cutoff)

    def score(self, samples: Int16Array) -> float | None:
        """Feed a chunk; return the highest probability it produced, or None."""
        best: float | None = None
        for features in self._features.process_streaming(int16_to_bytes(samples)):
            # Our threshold decides, so ask for the probability, not the library's verdict.
            probability = self._model.process_streaming_prob(features)
            if probability is not None and (best is None or probability > best):
                best = float(probability)
        return best

    def reset(self) -> None:
        """Clear features and model state (the library reloads its interpreter, ~2 ms)."""
        self._features.reset()
        self._model.reset()


def load_detector(
    model: str = "okay_nabu",
    *,
    threshold: float | None = None,
    retrigger_s: float = DEFAULT_RETRIGGER_S,
    energy_window_s: float = ENERGY_WINDOW_S,
) -> ThresholdDetector:
    """Build the default detector: microWakeWord behind a threshold and a retrigger guard.

    Args:
        model: a bundled word (``okay_nabu``, ``hey_jarvis``, ``hey_mycroft``, ``alexa``) or
            the path of a microWakeWord ``.json`` config or ``.tflite`` file.
        threshold: probability cutoff, 0-1; None uses the model's own cutoff.
        retrigger_s: minimum audio time between detections, in seconds.
        energy_window_s: window of the reported energy (RMS), in seconds.

    Raises:
        ImportError: pymicro-wakeword is not installed.
        WakeModelError: the model cannot be found or loaded.
    """
    return ThresholdDetector(
        MicroWakeWordScorer(model),
        threshold=threshold,
        retrigger_s=retrigger_s,
        energy_window_s=energy_window_s,
    )


def _load_model(spec: str) -> Any:
    from pymicro_wakeword import MicroWakeWord, Model

    name = spec.strip().lower().replace("-", "_").replace(" ", "_")
    if name in BUILTIN_WAKE_WORDS:
        return MicroWakeWord.from_builtin(Model(name))
    path = Path(spec).expanduser()
    if not path.is_file():
        raise WakeModelError(
            f"wake model {spec!r} is neither a bundled wake word "
            f"({', '.join(BUILTIN_WAKE_WORDS)}) nor an existing .json/.tflite file"
        )
    if path.suffix == ".tflite" and path.with_suffix(".json").is_file():
        path = path.with_suffix(".json")
    if path.suffix == ".json":
        _check_tflite(path.parent / _read_config(path)["model"])
        return MicroWakeWord.from_config(path)
    if path.suffix == ".tflite":
        _check_tflite(path)
        return MicroWakeWord(
            path.stem,
            wake_word=path.stem.replace("_", " "),
            tflite_model=path,
            probability_cutoff=_BARE_TFLITE_CUTOFF,
            sliding_window_size=_BARE_TFLITE_WINDOW,
            trained_languages=[],
            libtensorflowlite_c_path=_tflite_library(),
        )
    raise WakeModelError(f"wake model {path}: expected a .json config or a .tflite file")


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise WakeModelError(f"wake model config {path} is unreadable: {err}") from err
    if (
        not isinstance(config, dict)
        or config.get("type") != "micro"
        or not {"model", "micro"} <= config.keys()
    ):
        raise WakeModelError(
            f"wake model config {path} is not a microWakeWord config "
            '(needs "type": "micro", "model" and a "micro" section)'
        )
    return config


def _check_tflite(path: Path) -> None:
    # The library hands a bad file straight to the TFLite C API, which can crash the
    # process; a TFLite flatbuffer carries the identifier "TFL3" at bytes 4-8.
    try:
        with path.open("rb") as handle:
            header = handle.read(8)
    except OSError as err:
        raise WakeModelError(f"wake model file {path} is unreadable: {err}") from err
    if header[4:8] != b"TFL3":
        raise WakeModelError(f"wake model file {path} is not a TFLite model")


def _tflite_library() -> Path:
    import pymicro_wakeword

    lib_dir = Path(pymicro_wakeword.__file__).parent / "lib"
    found = next(iter(sorted(lib_dir.glob("*tensorflowlite_c.*"))), None)
    if found is None:
        raise WakeModelError(f"no libtensorflowlite_c in {lib_dir} (reinstall: {_EXTRA_HINT})")
    return found
