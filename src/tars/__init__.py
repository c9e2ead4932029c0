"""TARS: a local-first voice assistant built from small asyncio services on an MQTT bus."""

__version__ = "0.1.0"
