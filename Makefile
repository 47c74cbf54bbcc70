# The two commands of the README, and the checks CI runs.
.PHONY: run test lint setup

run:  ## install, migrate, seed the demo and start web, a worker per queue and beat
	@scripts/run.sh

test:  ## install (with test tools) and run the whole test suite
	@scripts/test.sh

lint:  ## ruff, Django checks, migrations and the OpenAPI schema
	@scripts/setup.sh --dev
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/python manage.py check
	.venv/bin/python manage.py makemigrations --check --dry-run
	.venv/bin/python manage.py spectacular --validate --fail-on-warn --file /dev/null

setup:
	@scripts/setup.sh --dev
