import numpy as np
import torch

from resbook import probes
from resbook.models import resnet


def test_one_response_per_3x3_layer():
    for depth in (8, 20):
        assert len(probes.response_layers(resnet(depth))) == depth - 1  # all but the final linear layer
        assert len(probes.response_layers(resnet(depth, preact=True))) == depth - 1


def test_response_std_matches_direct_computation():
    model = resnet(8, in_channels=1).eval()
    x = torch.randn(37, 1, 8, 8)
    stds = probes.layer_response_stds(model, x, batch_size=10)
    outputs = []
    handle = model.stem[1].register_forward_hook(lambda m, i, o: outputs.append(o))
    model(x)
    handle.remove()
    assert np.isclose(stds[0], outputs[0].double().std(unbiased=False).item(), rtol=1e-6)
    assert stds.shape == (7,) and np.all(stds > 0)
