# Shortcuts for the scripts in scripts/ (the scripts work without make).
.PHONY: demo test setup check lint
demo:
	sh scripts/demo.sh
test:
	sh scripts/test.sh
setup:
	sh scripts/setup.sh --test
check:
	.venv/bin/sentinel check --config config/sentinel.yaml
lint:
	.venv/bin/ruff check sentinel tests bench tools && .venv/bin/mypy sentinel
