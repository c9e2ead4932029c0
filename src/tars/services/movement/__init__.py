"""The movement service: validated servo commands for the ESP32 controller, and its simulator."""
