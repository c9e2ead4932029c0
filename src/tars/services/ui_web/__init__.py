"""ui-web: the browser dashboard (FastAPI + one WebSocket) that is also a satellite."""
