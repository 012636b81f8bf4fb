# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Every target installs what it needs first (idempotent, offline after the first run).

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
MODEL ?= models/reduced-femur-calcn-lstm/manifest.json
DATA ?= data/ab06
JSON ?=
INCLUDE ?= *
NAME ?= reduced-femur-calcn-lstm
VERSION ?= 2.0.0
# The shipped model's feature pipeline (docs/contract.md); gait-features/1 trains a v1 model.
PIPELINE ?= gait-features/2
NODE_BIN := node_modules/.bin
export ONNXRUNTIME_NODE_INSTALL := skip

.PHONY: setup setup-py setup-node setup-system test test-py test-ts typecheck lint schema demo evaluate train export report study study-v2 bench reliability gait-events clean

setup: setup-system setup-py setup-node

# Debian packages, and Node 24 + npm (deploy/install-node.sh) where the system's node is older.
setup-system:
	@bash deploy/dev/install-system-deps.sh

setup-py: $(VENV)/.installed
$(VENV)/.installed: training/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r training/requirements.txt
	touch $@

# .npmrc: no dependency install scripts (see that file); a change to it reinstalls.
setup-node: node_modules/.installed
node_modules/.installed: package.json package-lock.json .npmrc
	npm ci --no-audit --no-fund
	touch $@

# Lint last: a finding fails `make test` but does not hide the test results.
test: setup test-py typecheck test-ts lint

test-py: setup-py
	$(PY) -m pytest training/tests -q

# The edge and tests, then the dashboard page (browser lib, its own tsconfig).
typecheck: setup-node
	$(NODE_BIN)/tsc -p tsconfig.json --noEmit
	$(NODE_BIN)/tsc -p web/dashboard/tsconfig.json

# typescript-eslint with type information over edge/ and test/ (eslint.config.js).
lint: setup-node
	$(NODE_BIN)/eslint --max-warnings 0 .

# The end-to-end tests compare the demo with the Python `evaluate`, so they need the venv too.
test-ts: setup-node setup-py
	$(NODE_BIN)/vitest run

# The manifest's JSON Schema, generated from the edge's zod schema (edge/contract/manifest.ts):
# run after changing that schema and commit docs/schema/manifest.schema.json (the tests
# of both halves fail until it matches).
schema: setup-node
	$(NODE_BIN)/tsx edge/contract/writeManifestSchema.ts

demo: setup-node
	$(NODE_BIN)/tsx edge/cli.ts demo --model $(MODEL) --trial $(DATA)/levelground_ccw_normal_04_01_imu.csv.gz

evaluate: setup-py
	cd training && $(abspath $(PY)) -m gaitlstm evaluate --model $(abspath $(MODEL)) --data $(abspath $(DATA)) --include '$(INCLUDE)' $(if $(JSON),--json $(abspath $(JSON)))

# Train the shipped reduced model from scratch (the recipe stops at 14 min of wall clock
# on 2 cores) and export it (NAME/VERSION name the export, PIPELINE its feature pipeline;
# ARGS go to `gaitlstm train`).
train: setup-py
	cd training && $(abspath $(PY)) -m gaitlstm train --out ../runs/$(NAME) --pipeline $(PIPELINE) $(ARGS)
	cd training && $(abspath $(PY)) -m gaitlstm export --checkpoint ../runs/$(NAME)/checkpoint.pt --out ../models/$(NAME) --name $(NAME) --version $(VERSION)

report: setup-py
	cd training && $(abspath $(PY)) -m gaitlstm report --model $(abspath $(MODEL)) --out ../reports/latest

# The study's comparison (docs/study.md): virtual cohort, UI/UG/UA/IMU-IK, the
# 126-combination IMU sweeps (UG, then UI; resumable), the 21 UG pairs again with seeds
# 1 and 2, then reports/study. About 55 min on the 2-core machine (cohort 1, compare 4,
# UG sweep 23, UI sweep 19, repeats 2 x 4; docs/study.md).
# Needs the shared data folder (SHARED, default ../shared/data). Pinned to gait-features/1:
# the committed report and the sweeps are v1; the v2 comparison is `make study-v2`.
SHARED ?= ../shared/data
WORKERS ?= 2
study: setup-py
	test -f runs/cohort/cohort.json || (cd training && $(abspath $(PY)) -m gaitlstm.simulate cohort --out ../runs/cohort --data $(abspath $(SHARED)) --workers $(WORKERS))
	cd training && $(abspath $(PY)) -m gaitlstm.study compare --cohort ../runs/cohort --real $(abspath $(SHARED))/camargo_ab06/trials --out ../runs/study --pipeline gait-features/1
	cd training && $(abspath $(PY)) -m gaitlstm.study sweep --cohort ../runs/cohort --method ug --out ../runs/sweep --workers $(WORKERS)
	cd training && $(abspath $(PY)) -m gaitlstm.study sweep --cohort ../runs/cohort --method ui --out ../runs/sweep-ui --workers $(WORKERS) --epochs 8 --patience 3 --train-stride 5
	for seed in 1 2; do (cd training && $(abspath $(PY)) -m gaitlstm.study sweep --cohort ../runs/cohort --method ug --out ../runs/sweep-seed$$seed --sizes 2 --seed $$seed --workers $(WORKERS)) || exit 1; done
	cd training && $(abspath $(PY)) -m gaitlstm.study report --runs ../runs/study ../runs/sweep ../runs/sweep-ui --repeats ../runs/sweep-seed1 ../runs/sweep-seed2 --out ../reports/study

# The study's comparison and standing-offset experiment under the shipped contract,
# gait-features/2, on a cohort with random right-handed mountings (docs/study.md,
# "Under gait-features/2"). About 16 min on the 2-core machine (cohort 1, compare 15,
# standing 1).
study-v2: setup-py
	test -f runs/cohort-random/cohort.json || (cd training && $(abspath $(PY)) -m gaitlstm.simulate cohort --out ../runs/cohort-random --data $(abspath $(SHARED)) --mounting random --workers $(WORKERS))
	cd training && $(abspath $(PY)) -m gaitlstm.study compare --cohort ../runs/cohort-random --real $(abspath $(SHARED))/camargo_ab06/trials --out ../runs/study-v2 --archs lstm --pipeline gait-features/2 --threads 1 --no-imu-ik
	cd training && $(abspath $(PY)) -m gaitlstm.study standing --model ../runs/study-v2/ug_lstm_femur_r+calcn_r.pt --real $(abspath $(SHARED))/camargo_ab06/trials --cohort ../runs/cohort-random --data $(abspath $(SHARED)) --out ../runs/standing-v2 --threads 1

# The installed service's node flags (ExecStart of deploy/systemd/gait-edge.service, e.g. the
# young generation's cap): the bench and the soak run with them, so their memory is the service's.
SERVICE_NODE_FLAGS := $(shell sed -n 's|^ExecStart=[^ ]*/node \(\(--[^ ]* \)*\).*|\1|p' deploy/systemd/gait-edge.service)

# Needs a real mosquitto (Debian package), like the integration tests.
bench: setup-system setup-node
	NODE_OPTIONS="$(SERVICE_NODE_FLAGS)" $(NODE_BIN)/tsx edge/cli.ts bench --model $(MODEL) $(if $(JSON),--json $(JSON))

# The attack run of issue #13 as benchmarks (docs/reliability.md): serial fuzz (10^6 frames per mode,
# CSV also with each checksum), broker kill -9 and SIGSTOP (60 s each) and short freezes (1, 2, 4 s),
# the OTA attack suite, kill -9 of the device process during install and probation, a 30 min soak,
# the hostile device. About 40 min; needs mosquitto and socat. Writes reports/reliability.json (JSON=... elsewhere).
reliability: setup-system setup-node
	NODE_OPTIONS="$(SERVICE_NODE_FLAGS)" $(NODE_BIN)/tsx edge/cli.ts reliability all --json $(or $(JSON),reports/reliability.json)

# Gait events against AB06's force plates (docs/gait-events.md); needs the shared data folder.
gait-events: setup-py
	cd training && $(abspath $(PY)) -m gaitlstm.gait evaluate --data $(abspath $(SHARED))/camargo_ab06 --json ../reports/gait-events.json

clean:
	rm -rf dist runs out
