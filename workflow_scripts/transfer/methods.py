"""The transfer methods by name (config ``transfer.method``), each a
:data:`~workflow_scripts.transfer.interface.Method`.

The inputs each method reads besides the contents' mels and the style's statistics are declared, without torch, in
:data:`workflow_scripts.pipeline.options.TRANSFER_METHODS` (the Snakefile plans the files from it; the same names are
registered here, tested). A new method is its module, one entry here and one there (docs/pipeline.md, Extending).
"""

from __future__ import annotations

from workflow_scripts.transfer import gatys, knn
from workflow_scripts.transfer.interface import Content, Method, Setup, StyleClip, TransferResult

METHODS: dict[str, Method] = {"knn": knn.transfer, "gatys": gatys.transfer}


def transfer_pair(method: str, content: Content, style: StyleClip, setup: Setup) -> TransferResult:
    """One pair by ``method``, a batch of one (``method`` is named rather than read from the options, so that a
    comparison of methods can share one options object)."""
    (result,) = METHODS[method]([content], style, setup)
    return result
