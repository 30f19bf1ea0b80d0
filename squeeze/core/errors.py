"""Errors a user can act on. The CLI prints them as one line, without a traceback."""


class SqueezeError(Exception):
    """Base class for every error caused by input, configuration or environment."""


class DataError(SqueezeError):
    """Bad input data: unreadable file, bad JSON, missing or mistyped field, empty split."""


class ConfigError(SqueezeError):
    """Bad configuration: unknown key, wrong type, impossible value."""


class TrainingDiverged(SqueezeError):
    """A NaN or inf loss; the last good checkpoint is kept."""
