"""Exceptions whose message is shown to the user as one line."""


class InputError(Exception):
    """A problem with one input (a clip, a checkpoint): the message names the file and what to do."""


class ConfigError(ValueError):
    """A problem with the pipeline configuration, found before any job runs."""
