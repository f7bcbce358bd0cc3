import torch

from resbook import profiles, sharing, studies
from resbook.models import count_parameters, resnet


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


def test_sharing_variants_pair_the_shared_net_with_an_unshared_net_of_its_size():
    p = profiles.resolve("cpu")
    variants = studies.sharing_variants(p)
    names = list(variants)
    assert len(names) == 7  # four nets and three ablations
    naive, small = variants[names[1]], variants[names[2]]
    shared_net = resnet(naive["depth"], preact=True, shared=naive["shared"])
    assert count_parameters(shared_net) == count_parameters(resnet(small["depth"], preact=True))
    assert len(studies.sharing_variants(profiles.resolve("ci"))) == 4  # no ablations at ci
