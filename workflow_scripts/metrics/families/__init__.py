"""One module per metric family, each declaring ``METRIC`` (:class:`workflow_scripts.metrics.registry.Metric`).

Folders named in the environment variable :data:`EXTRA_FAMILIES_VARIABLE` (``os.pathsep``-separated) join this
package, so that families kept outside this checkout run too (docs/metrics.md, "Adding a metric"; the tests run a toy
family that way). Snakemake's jobs inherit the variable from the ``snakemake`` process.
"""

import os

EXTRA_FAMILIES_VARIABLE = "STYLE_TRANSFER_METRIC_FAMILIES"

__path__ += [folder for folder in os.environ.get(EXTRA_FAMILIES_VARIABLE, "").split(os.pathsep) if folder]
