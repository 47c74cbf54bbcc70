"""Domain errors of bots and runs, rendered as problem+json."""

from config.problems import Problem


class RunAlreadyActive(Problem):
    status = 409
    code = "run-already-active"
    title = "The bot already has an active run"


class BotHasActiveRun(Problem):
    status = 409
    code = "bot-has-active-run"
    title = "The bot has an active run"


class RunNotActive(Problem):
    status = 409
    code = "run-not-active"
    title = "The run has already ended"


class IllegalTransition(Problem):
    status = 409
    code = "illegal-transition"
    title = "The run cannot move to this state"


class LiveModeNotApproved(Problem):
    """Bots trade demo or paper only until live trading has its two-person approval."""

    status = 400
    code = "live-mode-not-approved"
    title = "Live mode needs an approval that is not in place"

    def __init__(self, detail: str | None = None):
        detail = detail or self.title
        super().__init__(detail, errors=[{"pointer": "/execution/mode", "detail": detail}])


class StartFailure(Exception):
    """A run cannot start for a reason the exchange did not raise; `code` is its error_code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
