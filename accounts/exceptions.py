"""Domain errors of accounts, rendered as problem+json."""

from config.problems import Problem


class InvalidCredentials(Problem):
    status = 401
    code = "invalid-credentials"
    title = "Wrong username or password"
