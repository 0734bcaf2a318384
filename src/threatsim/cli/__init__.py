"""The ``threatsim`` command."""
