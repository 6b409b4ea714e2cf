# Konsortio: two commands on a fresh machine. `make up` runs the whole stack on embedded
# defaults; `make test` runs the whole suite. Both bootstrap .venv from uv.lock first.
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
STAMP := $(VENV)/.synced

.PHONY: up test test-kafka test-containers lint format schemas demo bench bench-kafka reliability clean audit audit-ignores

$(UV): tools-bootstrap.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check -r tools-bootstrap.txt
	touch $(UV)

# Bytecode compiled once at install, as in the image: with PYTHONDONTWRITEBYTECODE set (as on
# these machines and in the image) Python would otherwise compile every imported module from
# source on every start, which was half of a service's start-up and of the CLI's.
$(STAMP): $(UV) uv.lock pyproject.toml packages/konsortio-contracts/pyproject.toml
	UV_PYTHON=$(PYTHON) UV_COMPILE_BYTECODE=1 $(UV) sync --locked --quiet
	$(VENV)/bin/python -m compileall -q -j 0 kit services konsortio packages/konsortio-contracts/contracts > /dev/null
	touch $(STAMP)

up: $(STAMP)
	$(VENV)/bin/konsortio up

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	# Includes tests/reliability: the short version of `make reliability` (about 4 minutes on
	# its own stack), started in the background when collection ends (tests/reliability/conftest.py).
	$(VENV)/bin/python -m pytest -q --durations=15

# The conformance lane: the integration suite against a real Apache Kafka (KRaft) broker that
# deploy/kafka/lane.sh resolves from Maven Central and starts on loopback, idempotence on.
test-kafka: $(STAMP)
	bash deploy/kafka/lane.sh $(VENV)/bin/python -m pytest -m integration -q

# Every service as a container: builds the image with podman from a Debian-bootstrapped base
# (deploy/containers/build.sh, cached in .cache/containers; installs podman, runc, mmdebstrap
# from apt when missing), writes the SBOM to test-artifacts/containers/, then runs
# tests/containers against the lane's Apache Kafka and a TLS PostgreSQL.
test-containers: $(STAMP)
	image=$$(bash deploy/containers/build.sh) && KONSORTIO_CONTAINERS_IMAGE=$$image \
		KONSORTIO_KAFKA_LANE_PARTITIONS=4 \
		bash deploy/kafka/lane.sh $(VENV)/bin/python -m pytest -m containers -q --durations=5 tests/containers

# Known vulnerabilities in the locked dependencies (uv.lock, every group), by pip-audit. Needs
# PyPI's JSON API or OSV on the network. Accepted findings go in audit-ignore.txt, one a line:
# "<vulnerability id> <YYYY-MM-DD the acceptance is reviewed by> <reason>"; a line without a
# date and a reason, or past its date, fails the audit.
AUDIT_IGNORE ?= audit-ignore.txt
audit-ignores:
	@awk -v today="$$(date -u +%F)" '/^[[:space:]]*(#|$$)/ {next} \
	  NF < 3 || $$2 !~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]$$/ { \
	    printf "%s:%d: want <id> <YYYY-MM-DD> <reason>\n", FILENAME, FNR; bad = 1; next } \
	  $$2 < today { printf "%s:%d: %s: review date %s has passed\n", FILENAME, FNR, $$1, $$2; bad = 1 } \
	  END { exit bad }' $(AUDIT_IGNORE)

audit: $(UV) audit-ignores
	$(UV) export --frozen --all-groups --no-emit-project --no-emit-workspace --no-hashes \
	  --format requirements-txt --output-file $(TOOLS)/audit-requirements.txt --quiet
	$(UV) tool run pip-audit --strict --disable-pip --no-deps \
	  --requirement $(TOOLS)/audit-requirements.txt \
	  $$(awk '!/^[[:space:]]*(#|$$)/ {printf "--ignore-vuln %s ", $$1}' $(AUDIT_IGNORE))

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	# The files and the strict and basic levels are in pyproject.toml ([tool.mypy]).
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

schemas: $(STAMP)
	$(VENV)/bin/konsortio contracts export
	$(VENV)/bin/konsortio contracts openapi

demo: $(STAMP)
	$(VENV)/bin/konsortio demo

# Benchmarks: every figure as a ratio to a reference measured in the same run.
bench: $(STAMP)
	$(VENV)/bin/python -m bench

# The broker benchmarks (pipeline, latency) on the lane's Apache Kafka instead of Tansu, for
# comparison; writes bench/results/apache-kafka.json.
bench-kafka: $(STAMP)
	bash deploy/kafka/lane.sh sh -c '$(VENV)/bin/python -m bench --only pipeline,latency \
		--kafka-bootstrap "$$KONSORTIO_TEST_KAFKA_BOOTSTRAP" --kafka-pid-file "$$KONSORTIO_TEST_KAFKA_PID_FILE"'

# Fault injection against the real stack; prints "N passed, N failed", writes reports/.
# ARGS narrows it, e.g. make reliability ARGS="--only database-restart --repeat 5".
reliability: $(STAMP)
	$(VENV)/bin/python -m reliability $(ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache
