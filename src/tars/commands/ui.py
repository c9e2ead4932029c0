"""``tars ui``: the terminal dashboard, attached to the running stack's broker.

Logs go to ``<TARS_DATA_DIR>/logs/ui.log`` (the terminal belongs to the dashboard).
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from pydantic import ValidationError

from tars.runtime.connect import mqtt_settings_for
from tars.runtime.logs import JsonFormatter
from tars.runtime.loop import run as run_loop
from tars.runtime.mqtt_bus import MqttBus
from tars.runtime.service import install_signal_handlers, serve
from tars.runtime.settings import RuntimeSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tars ui", description="terminal dashboard of the running stack"
    )
    parser.add_argument(
        "--satellite", help="satellite id typed turns come from (default UI_SATELLITE: ui)"
    )
    return parser


def _log_to_file(runtime: RuntimeSettings) -> None:
    directory = runtime.data_dir / "logs"
    directory.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(directory / "ui.log")
    handler.setFormatter(JsonFormatter("ui"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(runtime.log_level)


def run(runtime: RuntimeSettings, args: list[str]) -> int:
    """Entry point of ``tars ui``; returns the exit status."""
    try:
        from tars.services.ui.service import UiService
        from tars.services.ui.settings import UiSettings
    except ImportError as err:
        print(f"tars ui: the terminal UI is not installed ({err}): uv sync --extra ui")
        return 2
    options = _parser().parse_args(args)
    try:
        overrides = {"satellite": options.satellite} if options.satellite else {}
        settings = UiSettings(**overrides)
    except ValidationError as err:
        print(f"tars ui: {err}")
        return 2
    _log_to_file(runtime)

    async def main() -> None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
        service = UiService(settings, heartbeat_s=runtime.heartbeat_s, on_exit=stop.set)
        bus = MqttBus("ui", mqtt_settings_for("ui", runtime))
        await serve(service, bus, stop, heartbeat_s=runtime.heartbeat_s)

    run_loop(main())
    return 0
