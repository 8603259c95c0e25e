"""Exceptions with messages meant for people: each names the parameter or file and what to do."""


class LsbookError(ValueError):
    """Base class of lsbook's user-facing errors (a ValueError, as the API contract asks)."""


class DataMissingError(LsbookError, FileNotFoundError):
    """A dataset is not in the data root; the message names the path and the fetch command."""


class DataCorruptError(LsbookError):
    """A data file failed verification; the message names the file and expected/actual hashes."""


class StoreError(LsbookError):
    """A stored run is damaged or incompatible with this version of lsbook."""


class TrainingDivergedError(LsbookError, RuntimeError):
    """The training loss became NaN or infinite."""
