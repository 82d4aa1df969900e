# switchyard: the two commands a newcomer needs are `make demo` and `make test`.
# Both install Debian's Chromium first if no Chromium is found.

CARGO ?= cargo
DEMO_ARGS ?=
PORT ?= 7777

.PHONY: demo test lint bench bench-readme client-check chromium

## Install Debian's chromium when neither SWITCHYARD_CHROMIUM nor a known Chromium is present.
chromium:
	@scripts/ensure-chromium.sh

## Run the gateway on the built-in local replicas (Ctrl-C stops it).
demo: chromium
	$(CARGO) run --release -p switchyard -- demo --port $(PORT) $(DEMO_ARGS)

## Run every test: unit, decoder, replica and real-Chromium integration tests.
test: chromium
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --profile ci; \
	else \
		echo "cargo-nextest not found; using cargo test"; \
		$(CARGO) test --workspace; \
	fi
	$(CARGO) test --workspace --doc

## Formatting and lints, as CI checks them.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## The benchmark table (relay latency, time to first content, prompt entry, makespan, memory);
## every figure also goes to target/bench.json with its conditions.
bench: chromium
	$(CARGO) run --release -p switchyard -- bench --json target/bench.json

## Measure, keep the run as docs/bench.json and regenerate the README's table from it.
bench-readme: bench
	mkdir -p docs
	cp target/bench.json docs/bench.json
	$(CARGO) run --release -p switchyard -- bench table docs/bench.json --readme README.md

## The official openai Python client against `switchyard demo`, two models in parallel.
client-check: chromium
	scripts/openai-client-check.sh
