import torch

from resbook.models import resnet
from resbook.probes import sharing


def test_activation_norms_leave_running_statistics_alone():
    model = resnet(14, in_channels=1, preact=True, shared=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    norms = sharing.activation_norms(model, torch.randn(8, 1, 8, 8))
    assert len(norms) == len(model.blocks) + 1 and all(n > 0 for n in norms)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_stage_gradient_norms_count_shared_weights_once():
    torch.manual_seed(0)
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    shared = resnet(20, in_channels=1, preact=True, shared=2)
    norms = sharing.stage_gradient_norms(shared, x, y)
    assert len(norms) == 3 and all(n > 0 for n in norms)
