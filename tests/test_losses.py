import pytest
import torch

from workflow_scripts.transfer.losses import GramTarget, content_loss, gram


@pytest.mark.parametrize(("channels", "frames", "style_frames"), [(300, 40, 50), (16, 90, 70)])
def test_gram_loss_forms_agree_in_value_and_gradient(channels, frames, style_frames, device):
    generator = torch.Generator().manual_seed(0)
    style = torch.rand(channels, style_frames, generator=generator, dtype=torch.float64).to(device)
    features = torch.rand(channels, frames, generator=generator, dtype=torch.float64).to(device).requires_grad_(True)
    values, grads = [], []
    for form in ("gram", "frames"):
        loss = GramTarget(style, form).loss(features)
        values.append(loss)
        grads.append(torch.autograd.grad(loss, features)[0])
    torch.testing.assert_close(values[0], values[1], rtol=1e-10, atol=0)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-9, atol=1e-15)
    explicit = torch.sum((gram(features) - gram(style)) ** 2) / torch.sum(gram(style) ** 2)
    torch.testing.assert_close(values[0], explicit)


def test_auto_form_picks_the_cheaper_one():
    target = GramTarget(torch.rand(1000, 100))
    assert target.uses_frames(200)  # 200 + 100 frames < 1000 channels
    assert not target.uses_frames(2000)


def test_losses_are_zero_at_target_and_relative():
    features = torch.rand(8, 20)
    assert float(content_loss(features, features)) == 0.0
    assert float(GramTarget(features).loss(features)) == pytest.approx(0.0, abs=1e-6)
    # relative: scaling both sides leaves the losses unchanged
    other = torch.rand(8, 20)
    assert float(content_loss(3 * other, 3 * features)) == pytest.approx(float(content_loss(other, features)))
    assert float(GramTarget(3 * features).loss(3 * other)) == pytest.approx(float(GramTarget(features).loss(other)))
    assert float(content_loss(torch.zeros(8, 20), features)) == pytest.approx(1.0)
