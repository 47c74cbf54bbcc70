"""Domain errors of the lab, rendered as problem+json."""

from config.problems import Problem


class DatasetInUse(Problem):
    status = 409
    code = "dataset-in-use"
    title = "The dataset is used by a backtest"


class DatasetNotReady(Problem):
    status = 409
    code = "dataset-not-ready"
    title = "The dataset is not ready"


class BacktestActive(Problem):
    status = 409
    code = "backtest-active"
    title = "The backtest has not finished yet"


class BacktestNotSucceeded(Problem):
    status = 409
    code = "backtest-not-succeeded"
    title = "The backtest has no results"


class StoredFileMissing(Problem):
    status = 500
    code = "stored-file-missing"
    title = "A stored lab file is missing or unreadable"


class BacktestFailure(Exception):
    """A backtest cannot run; the message is readable and is stored as the backtest's error."""


class ImportFailure(Exception):
    """A dataset import cannot go on; the message is readable and becomes the dataset's error."""
