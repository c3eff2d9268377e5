# make demo   - create the environment and run the pipeline on the built-in demo (config.yaml);
#               make demo CONFIG=my.yaml runs your config instead (its corpus, backbones and vocoders replace the demo's)
# make test   - create the environment if needed, lint, run the test suite
# make report - run the pipeline and render results/report.html (metrics, plots, playable outputs); CONFIG= as for demo
# make bench  - benchmarks (see docs/performance.md); `make bench quality dag` runs only those sections
# make test-slurm - the pipeline through profiles/slurm on a one-node SLURM cluster on localhost (root)

PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
CONFIG ?=
# last on the command line: --configfile takes every word after it as a file
CONFIG_ARGS := $(if $(CONFIG),--configfile $(CONFIG))

.PHONY: venv demo report test test-slurm lint format bench clean $(BENCH_SECTIONS)

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt requirements-nodeps.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) $(CONFIG_ARGS)

report: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) results/report.html $(CONFIG_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/snakemake --lint

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/snakefmt Snakefile rules

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-slurm: $(STAMP)
	$(BIN)/python -m pytest tests/slurm $(PYTEST_ARGS)

BENCH_SECTIONS := transfer griffinlim dag vocoders backbones evaluation long_clips quality quality_levers batching corpus gpu \
	optimiser long_transfer long_vocoders long_windows evaluation_metrics evaluation_jobs

bench: $(STAMP)
	$(BIN)/python -m benchmarks $(filter $(BENCH_SECTIONS),$(MAKECMDGOALS))

# Section names are arguments of `make bench`, not targets of their own.
$(BENCH_SECTIONS):
	@:

clean:
	rm -rf results/* .snakemake
	touch results/.gitkeep
