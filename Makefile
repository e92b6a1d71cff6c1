# `make test` and `make demo` start the real Kafka and Redis themselves and stop what they started.
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

VENV = $(shell scripts/venv.sh)
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: venv test unit demo stack-up stack-down bench-help clean-stack

venv:
	@echo "virtualenv: $(VENV)"

# The virtualenv is shared by every clone with the same uv.lock; PYTHONPATH makes this clone's code
# win over whichever clone the venv's editable install last pointed at, for tests and their subprocesses.
ENV_SETUP = venv="$(VENV)"; export PATH="$$venv/bin:$$PATH"; export PYTHONPATH="$(CURDIR)$${PYTHONPATH:+:$$PYTHONPATH}"

test:
	scripts/system-deps.sh
	$(ENV_SETUP)
	started=0
	if [ -z "$${FRESHREC_KAFKA_BOOTSTRAP:-}" ] || [ -z "$${FRESHREC_REDIS_URL:-}" ]; then
	  # stop the stack afterwards only if this target started it (never someone else's running stack)
	  freshrec stack status >/dev/null 2>&1 || started=1
	  freshrec stack up
	fi
	trap '[ $$started = 1 ] && freshrec stack down || true' EXIT
	freshrec stack status
	python -m pytest $(PYTEST_ARGS)

unit:
	$(ENV_SETUP)
	python -m pytest tests/unit $(PYTEST_ARGS)

demo:
	@$(ENV_SETUP)
	# stop the stack afterwards only if this target started it (never someone else's running stack)
	started=1
	if freshrec stack status >/dev/null 2>&1; then started=0; fi
	trap '[ $$started = 1 ] && freshrec stack down || true' EXIT
	freshrec stack up
	freshrec demo $(DEMO_ARGS)

stack-up:
	"$(VENV)/bin/freshrec" stack up

stack-down:
	"$(VENV)/bin/freshrec" stack down
