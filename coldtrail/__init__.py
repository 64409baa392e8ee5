"""coldtrail: the shared language of the platform.

Telemetry schema, topics, settings, errors and the command line.
"""

__version__ = "0.1.0"
