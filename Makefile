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

test:
	scripts/system-deps.sh
	venv="$(VENV)"
	export PATH="$$venv/bin:$$PATH"
	started=0
	if [ -z "$${FRESHREC_KAFKA_BOOTSTRAP:-}" ] || [ -z "$${FRESHREC_REDIS_URL:-}" ]; then
	  freshrec stack up
	  started=1
	fi
	trap '[ $$started = 1 ] && freshrec stack down || true' EXIT
	freshrec stack status
	python -m pytest $(PYTEST_ARGS)

unit:
	"$(VENV)/bin/python" -m pytest tests/unit $(PYTEST_ARGS)

demo:
	@venv="$(VENV)"
	export PATH="$$venv/bin:$$PATH"
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
