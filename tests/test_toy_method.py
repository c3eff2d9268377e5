"""docs/pipeline.md, Extending: a new transfer method is its module, one entry in
``workflow_scripts/transfer/methods.py`` and one in ``workflow_scripts/pipeline/options.py``. A copy of the workflow
extended exactly so runs it end to end in a real Snakemake run."""

import numpy as np
import pandas as pd
import pytest
from conftest import copy_workflow, make_workdir, snakemake, tiny_config

TOY_METHOD = '''"""``toy``: every content's mel unchanged (a method that reads nothing but the contents' mels)."""

from workflow_scripts.transfer.interface import TransferResult


def transfer(contents, style, setup):
    row = {"step": 0, "total": 0.0, "content": 0.0, "style": 0.0, "seconds": 0.0}
    return [TransferResult(content.unit_mel, [row], 0.0) for content in contents]
'''


def add_toy_method(repo):
    """The three files a contributor touches (appended, as a one-line entry each in the two registries)."""
    library = repo / "workflow_scripts"
    (library / "transfer/toy.py").write_text(TOY_METHOD)
    with open(library / "transfer/methods.py", "a") as methods:
        methods.write('\nfrom workflow_scripts.transfer import toy  # noqa: E402\n\nMETHODS["toy"] = toy.transfer\n')
    with open(library / "pipeline/options.py", "a") as options:
        options.write('\nTRANSFER_METHODS["toy"] = ()\n')


@pytest.mark.slow
@pytest.mark.parametrize("batch_pairs", [0, 2])
def test_a_registered_toy_method_runs_end_to_end(tmp_path, batch_pairs):
    repo = copy_workflow(tmp_path / "repo")
    add_toy_method(repo)
    transfer = {"method": "toy", "batch_pairs": batch_pairs}
    workdir = make_workdir(tmp_path / "work", tiny_config(transfer=transfer))
    snakemake(workdir, repo=repo)
    metrics = pd.read_csv(workdir / "results/metrics.tsv", sep="\t")
    assert len(metrics) == 2 and set(metrics["method"]) == {"toy"}
    # the toy's result is the content's own mel (to the unit-scale round trip)
    stylised = np.load(workdir / "results/stylised/hifigan/random_cnn/tone/chirp.npy")
    np.testing.assert_allclose(stylised, np.load(workdir / "results/mel/hifigan/tone.npy"), atol=1e-5)
