# The two commands the README opens with. Both set up .venv/ first (idempotent).
.PHONY: setup setup-dev demo test test-slow lint

setup:
	scripts/setup.sh

setup-dev:
	scripts/setup.sh --dev

# Sets up and starts the main job on the offline default (no model weights needed).
demo: setup
	.venv/bin/python -m d2m_core demo

# Sets up and runs the default test suite (fast; slow tests: make test-slow).
test: setup-dev
	.venv/bin/python -m ruff check .
	.venv/bin/python -m pytest -m "not slow" -q

test-slow: setup-dev
	.venv/bin/python -m pytest -m slow -q

lint: setup-dev
	.venv/bin/python -m ruff check .
