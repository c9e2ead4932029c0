"""The shared runtime every service uses: settings, bus, health, logging, metrics, lifecycle."""
