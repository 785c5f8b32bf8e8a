"""The one exception type the library raises for misuse a caller can fix."""


class AdaLoRAError(ValueError):
    """A configuration or usage error. The message is one line that says what to change."""
