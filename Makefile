# The two commands the README opens with. Both set up .venv/ first (idempotent).
.PHONY: setup setup-dev demo test test-slow test-proof lint

setup:
	scripts/setup.sh

setup-dev:
	scripts/setup.sh --dev

# Sets up and starts the web app on http://127.0.0.1:7860 (offline default, no model weights).
demo: setup
	.venv/bin/python app.py

# Sets up and runs the default test suite (fast; slow tests: make test-slow).
test: setup-dev
	.venv/bin/python -m ruff check .
	.venv/bin/python -m pytest -m "not slow and not proof" -q

test-slow: setup-dev
	.venv/bin/python -m pytest -m slow -q

# The proof that encoder-based inversion learns rhythm control (CPU, several minutes).
test-proof: setup-dev
	.venv/bin/python -m pytest -m proof -q -s

lint: setup-dev
	.venv/bin/python -m ruff check .
