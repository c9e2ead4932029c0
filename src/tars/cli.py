"""The `tars` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from tars.runtime.settings import MqttSettings, RuntimeSettings, describe_settings_error

VERBS = {
    "ask": "one text turn: prints the reply (--speak writes or plays it)",
    "listen": "one voice turn from a WAV file: wake, transcript, reply, reply audio",
    "ui": "terminal dashboard attached to the running stack (conversation, health, events)",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tars", description="TARS voice assistant")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="run the whole stack, broker included")
    up.add_argument("services", nargs="*", help="only these services (default: all)")
    run = commands.add_parser("run", help="run one service in the foreground")
    run.add_argument("service")
    commands.add_parser("status", help="health of every service")
    commands.add_parser("doctor", help="check broker, audio devices, models and configuration")
    bench = commands.add_parser("bench", help="measure speed and write a JSON report and chart")
    bench.add_argument(
        "suite", nargs="?", default="all", help="one suite (bus, stt, voice, ...) or all (default)"
    )
    bench.add_argument("--out", default="bench-results", help="report directory")
    bench.add_argument("--suites", help="run these suites (comma-separated) as one combined report")
    bench.add_argument(
        "--compare",
        nargs="+",
        metavar="REPORT",
        help="OLD.json [NEW.json]: ratio new/old per figure (NEW: the latest in --out)",
    )
    for verb, text in VERBS.items():
        sub = commands.add_parser(verb, help=text, add_help=False)
        sub.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tars` command."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words and words[0] in VERBS:
        # These verbs parse their own options (argparse would claim a leading --flag).
        runtime = _runtime_settings()
        return 2 if runtime is None else _run_verb(words[0], words[1:], runtime)
    arguments = _parser().parse_args(words)
    if arguments.command == "run":
        from tars.commands.run import run_service

        return run_service(arguments.service)
    runtime = _runtime_settings()
    if runtime is None:
        return 2
    if arguments.command == "up":
        from tars.commands import up

        return up.run(runtime, arguments.services or None)
    if arguments.command == "status":
        from tars.commands import status

        return status.run(runtime)
    if arguments.command == "doctor":
        from tars.commands import doctor

        return doctor.run(runtime)
    if arguments.command == "bench":
        from tars.bench import suites

        if arguments.compare:
            return suites.compare(arguments.compare, arguments.out)
        return suites.run(arguments.suite, arguments.out, runtime, arguments.suites)
    return _run_verb(arguments.command, arguments.args, runtime)


def _runtime_settings() -> RuntimeSettings | None:
    try:
        runtime = RuntimeSettings()
        # Checked up front so a broken MQTT_URL or TLS file is named before any command runs.
        MqttSettings()
    except ValidationError as err:
        model = RuntimeSettings if err.title == RuntimeSettings.__name__ else MqttSettings
        print(describe_settings_error(err, model), file=sys.stderr)
        return None
    return runtime


def _run_verb(verb: str, args: list[str], runtime: RuntimeSettings) -> int:
    """Commands with their own argument parsing live in ``tars.commands.<verb>``."""
    import importlib
    import importlib.util

    name = f"tars.commands.{verb}"
    if importlib.util.find_spec(name) is None:
        print(f"tars {verb}: not available in this version ({VERBS[verb]})")
        return 2
    command = importlib.import_module(name)
    return int(command.run(runtime, args))
