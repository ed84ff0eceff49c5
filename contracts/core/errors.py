"""The one error of the light core: a setting or file that cannot be used as given."""


class ConfigError(ValueError):
    """A setting is missing, unknown or of the wrong type."""
