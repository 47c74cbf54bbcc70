"""Domain errors of strategies, rendered as problem+json."""

from config.problems import Problem


class StrategyInUse(Problem):
    status = 409
    code = "strategy-in-use"
    title = "A version of the strategy is in use"


class VersionUnchanged(Problem):
    status = 409
    code = "version-unchanged"
    title = "The body is the same as the latest version's"
