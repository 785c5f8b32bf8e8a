"""The one exception type the tasks package raises for data a user can fix."""


class DataError(ValueError):
    """Missing or malformed data. The message is one line naming the path and what was expected."""
