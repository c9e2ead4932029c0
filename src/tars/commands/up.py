"""``tars up``: the whole stack, broker included."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path

from tars.runtime.broker import BrokerUnavailable
from tars.runtime.malloc import tune_malloc
from tars.runtime.service import install_signal_handlers
from tars.runtime.settings import RuntimeSettings
from tars.runtime.supervisor import ProgressReport, Supervisor
from tars.services import catalog


def has_input_device() -> bool:
    """Whether PortAudio reports any microphone."""
    try:
        import sounddevice
    except (ImportError, OSError):
        return False
    return any(d.get("max_input_channels", 0) > 0 for d in sounddevice.query_devices())


def choose_services(requested: list[str] | None, report: ProgressReport) -> list[str]:
    """The services to start: the requested ones, or all available ones."""
    services = requested or [s for s in catalog.available() if s not in catalog.ATTACHED]
    if "mic" in services and not requested and not has_input_device():
        report.line(
            "no sound card input found: not starting mic; remote satellites, the browser and "
            "test clients can still publish audio on audio/<satellite>/pcm"
        )
        services = [name for name in services if name != "mic"]
    for line in hardware_notes(services, os.environ):
        report.line(line)
    return services


def hardware_notes(services: list[str], environ: Mapping[str, str]) -> list[str]:
    """What the body services will stand in for when no hardware is configured."""
    notes = []
    if "movement" in services and environ.get("MOVEMENT_MODE", "auto") == "auto":
        notes.append(
            "movement: no ESP32 servo controller configured: the simulator answers on the bus "
            "until one reports on system/health/esp32 (MOVEMENT_MODE=esp32 turns it off)"
        )
    if "camera" in services and environ.get("CAMERA_SOURCE", "auto") == "auto":
        index = environ.get("CAMERA_DEVICE_INDEX", "0")
        if not Path(f"/dev/video{index}").exists():
            notes.append(f"camera: no /dev/video{index}: serving generated test frames")
        port = environ.get("CAMERA_HTTP_PORT", "8081")
        host = environ.get("CAMERA_HTTP_HOST", "127.0.0.1")
        notes.append(f"camera: MJPEG on http://{host}:{port}/stream and /snapshot")
    return notes


def run(runtime: RuntimeSettings, requested: list[str] | None) -> int:
    """Run the stack until Ctrl-C or SIGTERM."""
    tune_malloc()  # the supervisor's own threads; each service tunes itself in `tars run`
    report = ProgressReport()
    services = choose_services(requested, report)
    if "ui-web" in services:
        from tars.services.ui_web.access import startup_line

        line, startable = startup_line(runtime.data_dir)
        report.line(line)
        services = services if startable else [name for name in services if name != "ui-web"]
    supervisor = Supervisor(
        services, runtime, use_external_broker="MQTT_URL" in os.environ, report=report
    )

    async def main() -> None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
        await supervisor.run(stop)

    try:
        asyncio.run(main())
    except BrokerUnavailable as err:
        report.line(f"cannot start the broker: {err}")
        return 1
    return 0
