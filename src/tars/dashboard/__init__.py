"""View models the dashboards share (web and terminal): no MQTT, no UI toolkit.

Both UIs turn the same bus traffic into the same conversation lines and health rows, so
the logic lives here once and each UI only renders it. The UI services feed these models
from their bus handlers; nothing here touches the bus.
"""
