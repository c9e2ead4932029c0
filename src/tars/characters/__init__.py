"""Character (persona) files shipped with TARS, their data model and the system-prompt builder."""
