"""The torchvision image backbones (VGG-19, ResNet-50, ViT-B/16) with seeded random weights."""

import math

import numpy as np
import pytest
import torch
import torchvision
from conftest import chirp, gatys_pair, harmonic, silence
from torchvision.models.feature_extraction import create_feature_extractor

from workflow_scripts.audio.conventions import HIFIGAN
from workflow_scripts.pipeline.backbone_options import imagenet_cache_path
from workflow_scripts.pipeline.errors import ConfigError, InputError
from workflow_scripts.pipeline.options import TransferOptions
from workflow_scripts.transfer.backbones import BACKBONES, VGG19, ResNet50, ViTB16
from workflow_scripts.transfer.image_backbones import mel_to_image
from workflow_scripts.transfer.objective import Objective
from workflow_scripts.transfer.precision import FeatureExtractor
from workflow_scripts.transfer.style_statistics import style_targets

N_MELS = 80


def halve(size: int, times: int, ceil: bool) -> int:
    for _ in range(times):
        size = -(-size // 2) if ceil else size // 2
    return size


def expected_shape(kind: type, layer: str, frames: int) -> tuple[int, int]:
    """(channels, positions) from the architecture: pooling/stride arithmetic on the padded input."""
    if kind is VGG19:
        block = int(layer[4]) - 1
        width = max(frames, 16)
        return (64, 128, 256, 512, 512)[block], halve(N_MELS, block, False) * halve(width, block, False)
    if kind is ResNet50:
        index = ResNet50.Options.layers.index(layer)
        width = max(frames, 32)
        channels = (64, 256, 512, 1024, 2048)[index]
        return channels, halve(N_MELS, 2 + max(index - 1, 0), True) * halve(width, 2 + max(index - 1, 0), True)
    return 768, (N_MELS // 16) * math.ceil(max(frames, 16) / 16)


def all_layers(kind: type) -> dict[str, float]:
    return dict.fromkeys(kind.Options.layers, 1.0)


@pytest.fixture(scope="module", params=[VGG19, ResNet50, ViTB16], ids=["vgg19", "resnet50", "vit_b_16"])
def every_layer(request, device):
    kind = request.param
    return kind(kind.Options(style_layers=all_layers(kind), seed=1), N_MELS).to(device)


@pytest.mark.parametrize("frames", [5, 37, 100, 129])
def test_feature_shapes_follow_the_time_axis(every_layer, frames, device):
    maps = every_layer(torch.rand(1, N_MELS, frames, device=device))
    assert set(maps) == set(every_layer.layers)
    for layer, features in maps.items():
        assert tuple(features.shape) == expected_shape(type(every_layer), layer, frames), layer
        assert torch.isfinite(features).all() and features.device.type == device.type


def test_batched_maps_are_each_mels_own(every_layer, device):
    """Mels whose images have the same width share a batch; each keeps the maps it has alone."""
    lengths = [37, 40, 37, 100] if isinstance(every_layer, ViTB16) else [37, 37, 100]  # ViT: 37 and 40 pad to 48
    mels = [torch.rand(N_MELS, frames, device=device) for frames in lengths]
    groups = every_layer.batch_groups(lengths)
    assert sorted(len(indices) for indices, _ in groups) == [1, len(lengths) - 1]
    together = FeatureExtractor(every_layer).many(mels)
    for mel, maps in zip(mels, together, strict=True):
        for layer, alone in every_layer(mel[None]).items():
            torch.testing.assert_close(maps[layer], alone, rtol=1e-4, atol=1e-4)


def test_image_backbones_create_nothing_on_another_device(every_layer):
    """On the meta device any tensor made on the CPU inside a forward pass fails, as it would beside CUDA tensors."""
    meta = type(every_layer)(every_layer.options, N_MELS).to("meta")
    maps = meta(torch.rand(1, N_MELS, 37, device="meta"))
    assert {value.device.type for value in maps.values()} == {"meta"}
    assert meta.frame_features(torch.rand(N_MELS, 37, device="meta")).device.type == "meta"


@pytest.mark.parametrize("kind", list(BACKBONES))
def test_every_registered_backbone_gives_its_layers_and_frame_features(kind, device):
    """Parametrised over the registry: a new backbone is covered without editing a list, and one without the
    ``frame_features`` knn matches frames by fails here, not in a knn job."""
    backbone = BACKBONES[kind](BACKBONES[kind].Options(), N_MELS).to(device)
    mel = torch.rand(N_MELS, 37, device=device)
    maps = backbone(mel[None])
    assert set(backbone.content_layers) | set(backbone.style_layers) <= set(maps)
    assert all(torch.isfinite(value).all() for value in maps.values())
    features = backbone.frame_features(mel)
    assert features.ndim == 2 and features.shape[1] == 37 and torch.isfinite(features).all()


def test_mel_to_image_normalises_pads_with_silence_and_never_resizes():
    mel = torch.rand(1, 80, 37)
    image = mel_to_image(mel, multiple=16, minimum=16)
    assert image.shape == (1, 3, 80, 48)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    torch.testing.assert_close(image[0, :, :, :37], (mel[0] - mean) / std)
    torch.testing.assert_close(image[0, :, :, 37:], ((0 - mean) / std).expand(3, 80, 11))
    assert mel_to_image(torch.rand(1, 80, 5), minimum=32).shape == (1, 3, 80, 32)


def test_only_layers_up_to_the_deepest_selected_are_built():
    vgg = VGG19(VGG19.Options(content_layers={"conv2_1": 1.0}, style_layers={"conv1_1": 1.0}), N_MELS)
    assert len(vgg.features) == 7  # conv1_1 .. relu2_1
    resnet = ResNet50(ResNet50.Options(content_layers={"stem": 1.0}, style_layers={"layer1": 1.0}), N_MELS)
    assert hasattr(resnet, "layer1") and not hasattr(resnet, "layer2")
    vit = ViTB16(ViTB16.Options(content_layers={"encoder_layer_1": 1.0}, style_layers={"encoder_layer_0": 1.0}), 80)
    assert len(vit.encoder.layers) == 2


def test_random_weights_are_seeded():
    layers = {"stem": 1.0}
    a, b, c = (
        ResNet50(ResNet50.Options(content_layers=layers, style_layers=layers, seed=s), N_MELS) for s in (3, 3, 4)
    )
    assert torch.equal(a.conv1.weight, b.conv1.weight)
    assert not torch.equal(a.conv1.weight, c.conv1.weight)


# Node names of torchvision's own graph for each backbone's layers (the independent reference).
REFERENCE_NODES = {
    VGG19: lambda name: f"features.{dict(VGG19._relus)[name]}",
    ResNet50: lambda name: "maxpool" if name == "stem" else name,
    ViTB16: lambda name: f"encoder.layers.{name}",
}
CONSTRUCTORS = {VGG19: torchvision.models.vgg19, ResNet50: torchvision.models.resnet50,
                ViTB16: torchvision.models.vit_b_16}  # fmt: skip


@pytest.mark.parametrize("kind", [VGG19, ResNet50, ViTB16], ids=["vgg19", "resnet50", "vit_b_16"])
def test_state_dict_with_torchvision_keys_gives_the_in_memory_models_features(kind, tmp_path, device):
    torch.manual_seed(7)
    network = CONSTRUCTORS[kind](weights=None).eval()
    torch.save(network.state_dict(), tmp_path / "weights.pth")
    network = network.to(device)
    layers = {kind.Options.layers[0]: 1.0, kind.Options.layers[2]: 1.0}
    options = kind.Options(content_layers=layers, style_layers=layers, weights=str(tmp_path / "weights.pth"))
    backbone = kind(options, 224).to(device)
    # a 224 x 224 input is the network's native size, so the ViT's positional embeddings are used as they are
    unit_mel = torch.rand(1, 224, 224, device=device)
    nodes = {REFERENCE_NODES[kind](name): name for name in layers}
    reference = create_feature_extractor(network, list(nodes))(mel_to_image(unit_mel))
    features = backbone(unit_mel)
    for node, name in nodes.items():
        expected = reference[node][:, 1:].transpose(1, 2) if kind is ViTB16 else reference[node]
        torch.testing.assert_close(features[name], expected[0].flatten(1), rtol=1e-5, atol=1e-5)


def test_vgg_accepts_a_features_only_state_dict_and_others_name_the_missing_key(tmp_path):
    vgg = VGG19(VGG19.Options(seed=5), N_MELS)
    torch.save(vgg.state_dict(), tmp_path / "features.pth")
    assert all(key.startswith("features.") for key in torch.load(tmp_path / "features.pth"))
    loaded = VGG19(VGG19.Options(seed=6, weights=str(tmp_path / "features.pth")), N_MELS)
    x = torch.rand(1, N_MELS, 40)
    torch.testing.assert_close(loaded(x)["conv4_2"], vgg(x)["conv4_2"], rtol=0, atol=0)
    with pytest.raises(InputError, match=r"features\.pth: no key 'conv1\.weight'; expected a ResNet50 state_dict"):
        ResNet50(ResNet50.Options(weights=str(tmp_path / "features.pth")), N_MELS)


@pytest.mark.parametrize("kind", [VGG19, ResNet50, ViTB16], ids=["vgg19", "resnet50", "vit_b_16"])
def test_imagenet_without_a_cached_file_is_a_config_error(kind, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(ConfigError) as error:
        kind.Options(weights="imagenet").check("backbones.net")
    message = str(error.value)
    assert "\n" not in message
    assert f"backbones.net.weights: imagenet needs {imagenet_cache_path(kind.Options.imagenet_url).name}" in message
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in message
    assert kind.Options.imagenet_url in message and "state_dict file or to random" in message


def test_imagenet_loads_from_the_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    source = ResNet50(ResNet50.Options(seed=11), N_MELS)
    cached = imagenet_cache_path(ResNet50.Options.imagenet_url)
    cached.parent.mkdir(parents=True)
    torch.save(source.state_dict(), cached)
    ResNet50.Options(weights="imagenet").check("backbones.resnet50")  # no error now
    loaded = ResNet50(ResNet50.Options(weights="imagenet"), N_MELS)
    x = torch.rand(1, N_MELS, 64)
    torch.testing.assert_close(loaded(x)["layer3"], source(x)["layer3"], rtol=0, atol=0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"style_layers": {"conv9_1": 1.0}}, "style_layers: unknown layer 'conv9_1'; known: conv1_1, conv1_2"),
        ({"content_layers": {}}, "content_layers: select at least one of conv1_1"),
        ({"style_layers": {"conv1_1": 0.0}}, "style_layers: the weights must have a positive sum"),
    ],
)
def test_layer_selection_is_checked(options, message):
    with pytest.raises(ConfigError, match=message):
        VGG19.Options(**options).check("backbones.vgg19")


@pytest.fixture(scope="module")
def short_pair():
    """Content: two notes with a rest (about 26 frames); style: a chirp."""
    notes = [np.concatenate([harmonic(0.1, 22050, f0=f0), silence(0.05, 22050)]) for f0 in (200, 300)]
    return HIFIGAN.unit_mel(np.concatenate(notes)), HIFIGAN.unit_mel(chirp(0.3, 22050))


# The two shallowest layers keep these CPU runs short; the content weight is 0 because the test checks that the
# style gradient flows through the adaptation and the network, not the default balance (docs/transfer.md).
SHORT_RUN_LAYERS = {
    VGG19: ("conv1_1", "conv2_1"),
    ResNet50: ("stem", "layer1"),
    ViTB16: ("encoder_layer_0", "encoder_layer_1"),
}


@pytest.mark.parametrize("kind", [VGG19, ResNet50, ViTB16], ids=["vgg19", "resnet50", "vit_b_16"])
def test_short_transfer_reduces_style_loss_tenfold_and_keeps_duration(kind, short_pair, device):
    content, style = (torch.from_numpy(mel).to(device) for mel in short_pair)
    layers = dict.fromkeys(SHORT_RUN_LAYERS[kind], 1.0)
    options = kind.Options(content_weight=0.0, content_layers=layers, style_layers=layers)
    backbone = kind(options, N_MELS).to(device)
    targets = style_targets(backbone, style)
    initial = float(Objective(backbone, content, targets)(content)[2])
    options = TransferOptions(iterations=10, tolerance=0)
    result = gatys_pair(short_pair[0], targets, backbone, options, device, progress=False)
    assert result.unit_mel.shape == short_pair[0].shape  # frames, hence duration, preserved
    assert result.final["style"] < initial / 10, (initial, result.final)
    assert np.isfinite(result.unit_mel).all() and result.unit_mel.std() > 0.05


def test_layer_weights_are_parsed_from_the_config(tmp_path, monkeypatch):
    from conftest import tiny_config, write_wav

    from workflow_scripts.pipeline.settings import load_pipeline

    monkeypatch.chdir(tmp_path)
    for name in ("tone", "chirp", "noise"):
        write_wav(tmp_path / f"audio/{name}.wav", harmonic(0.3, 16000), 16000)
    config = tiny_config(backbones={"vgg19": {"style_layers": {"conv1_1": 1, "conv3_1": 0.5}}})
    params = load_pipeline(config).backbones["vgg19"].params()
    assert params["style_layers"] == {"conv1_1": 1.0, "conv3_1": 0.5}
    assert isinstance(params["style_layers"]["conv1_1"], float)  # YAML spelling does not change the params
    assert params["content_layers"] == {"conv4_2": 1.0}
    with pytest.raises(ConfigError, match=r"vgg19\.style_layers: expected dict\[str, float\], got dict"):
        load_pipeline(tiny_config(backbones={"vgg19": {"style_layers": {"conv1_1": "high"}}}))
