"""TARS services: one package per service (settings, bus wiring, engines)."""
