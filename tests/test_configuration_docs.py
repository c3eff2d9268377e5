"""docs/configuration.md documents every option: each field of every options dataclass, every top-level key of the
schema, and the image backbones' layers."""

import dataclasses
import re

import pytest
import yaml
from conftest import REPO

from workflow_scripts.pipeline.backbone_options import BACKBONE_OPTIONS, ImageBackboneOptions
from workflow_scripts.pipeline.options import NormaliseSettings, RuntimeSettings, TransferOptions, TrimSettings
from workflow_scripts.pipeline.vocoder_options import VOCODER_OPTIONS

DOCS = (REPO / "docs/configuration.md").read_text()
SCHEMA = yaml.safe_load((REPO / "schemas/config.schema.yaml").read_text())
SECTIONS = {"trim": TrimSettings, "normalise": NormaliseSettings, "runtime": RuntimeSettings,
            "transfer": TransferOptions, **BACKBONE_OPTIONS, **VOCODER_OPTIONS}  # fmt: skip


def documented(name: str) -> bool:
    """A key of the YAML example (``name:``) or a name in code style (`` `name` ``)."""
    return re.search(rf"(^\s*|[{{,]\s*){re.escape(name)}:|`{re.escape(name)}`", DOCS, flags=re.MULTILINE) is not None


@pytest.mark.parametrize("options", SECTIONS.values(), ids=SECTIONS.keys())
def test_every_option_is_documented(options):
    assert [field.name for field in dataclasses.fields(options) if not documented(field.name)] == []


def test_every_top_level_key_is_documented():
    assert [key for key in SCHEMA["properties"] if not documented(key)] == []


@pytest.mark.parametrize("kind", [k for k, o in BACKBONE_OPTIONS.items() if issubclass(o, ImageBackboneOptions)])
def test_every_image_backbone_layer_is_documented(kind):
    assert [layer for layer in BACKBONE_OPTIONS[kind].layers if not documented(layer)] == []


def test_an_undocumented_name_is_caught():
    assert not documented("no_such_option") and documented("history_size")
