"""``tars run <service>``: one service in this process: settings, logging, bus, signals."""

from __future__ import annotations

import asyncio
import logging
import sys

from pydantic import ValidationError

from tars.runtime.connect import mqtt_settings_for
from tars.runtime.logs import configure_logging
from tars.runtime.loop import run as run_loop
from tars.runtime.malloc import tune_malloc
from tars.runtime.mqtt_bus import MqttBus
from tars.runtime.service import ServiceFailed, install_signal_handlers, serve
from tars.runtime.settings import RuntimeSettings, describe_settings_error
from tars.services import catalog

_LOGGER = logging.getLogger(__name__)


def run_service(name: str) -> int:
    """Run the named service until SIGINT/SIGTERM; returns the process exit code."""
    tune_malloc()  # before any engine starts a thread
    try:
        runtime = RuntimeSettings()
    except ValidationError as err:
        print(describe_settings_error(err, RuntimeSettings), file=sys.stderr)
        return 2
    configure_logging(name, runtime.log_level, runtime.log_format)
    try:
        build = catalog.builder(name)
        service = build(runtime)
        mqtt = mqtt_settings_for(name, runtime)
    except catalog.UnknownService as err:
        print(str(err), file=sys.stderr)
        return 2
    except ValidationError as err:
        print(f"{name}: {err}", file=sys.stderr)
        return 2

    async def main() -> None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
        bus = MqttBus(name, mqtt)
        await serve(
            service,
            bus,
            stop,
            heartbeat_s=runtime.heartbeat_s,
            metrics_interval_s=runtime.metrics_interval_s,
        )

    try:
        run_loop(main())
    except ServiceFailed as err:
        _LOGGER.error("exiting after failure: %s", err.detail)
        return 1
    return 0
