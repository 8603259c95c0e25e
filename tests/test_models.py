"""Tests of lsbook.models: the build() contract, parameter counts by hand formula, the faults of
the replication's code that must not come back (FCN hook, AlexNet head init), Transformer masks."""

from __future__ import annotations

import functools
import math

import pytest
import torch
from torch import nn

from lsbook.errors import DataCorruptError, DataMissingError, LsbookError
from lsbook.models import MODEL_NAMES, build
from lsbook.models.alexnet import ChannelLRN


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@functools.lru_cache(maxsize=None)
def built(name: str, num_classes: int, **kw) -> nn.Module:
    """One model per configuration for the read-only tests (the ImageNet ResNets take seconds)."""
    torch.manual_seed(0)
    return build(name, num_classes, **kw).eval()


# ---------------------------------------------------------------- hand formulas for parameter counts

def linear(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def conv(c_in: int, c_out: int, k: int, bias: bool = False) -> int:
    return c_in * c_out * k * k + (c_out if bias else 0)


def bn(c: int) -> int:  # scale and shift; running statistics are buffers, not parameters
    return 2 * c


def fcn_count(n: int, k: int) -> int:
    return 784 * n + n + n * n + n + n * k + k


def alexnet_count(k: int) -> int:
    # 24 -> pool 3/2 SAME -> 12 -> pool -> 6: fc1 sees 64 * 6 * 6 = 2304 inputs
    return (conv(3, 64, 5, bias=True) + conv(64, 64, 5, bias=True)
            + linear(64 * 6 * 6, 384) + linear(384, 192) + linear(192, k))


def preact_resnet_count(w: int, k: int, stem: int = 3, n: int = 9) -> int:
    total = conv(3, w, stem)
    c_in = w
    for c in (w, 2 * w, 4 * w):
        for i in range(n):
            total += bn(c_in) + conv(c_in, c, 3) + bn(c) + conv(c, c, 3)
            if c_in != c:                      # 1x1 projection where the shape changes
                total += conv(c_in, c, 1)
            c_in = c
    return total + bn(4 * w) + linear(4 * w, k)


def torchvision_resnet_count(arch: str, k: int) -> int:
    """ResNet-34 (basic blocks [3,4,6,3]) / ResNet-50 (bottlenecks [3,4,6,3], expansion 4)."""
    total = conv(3, 64, 7) + bn(64)
    c_in = 64
    for planes, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(blocks):
            s = stride if i == 0 else 1
            if arch == "resnet34":
                out = planes
                total += conv(c_in, planes, 3) + bn(planes) + conv(planes, planes, 3) + bn(planes)
            else:
                out = 4 * planes
                total += (conv(c_in, planes, 1) + bn(planes) + conv(planes, planes, 3) + bn(planes)
                          + conv(planes, out, 1) + bn(out))
            if s != 1 or c_in != out:
                total += conv(c_in, out, 1) + bn(out)
            c_in = out
    return total + linear(c_in, k)


def transformer_count(v_src: int, v_tgt: int, d: int, ff: int, n_enc: int, n_dec: int) -> int:
    attention = 4 * d * d + 4 * d                # q, k, v, out projections with biases
    feedforward = linear(d, ff) + linear(ff, d)
    norm = 2 * d
    encoder_layer = attention + feedforward + 2 * norm
    decoder_layer = 2 * attention + feedforward + 3 * norm
    return (v_src * d + v_tgt * d + n_enc * encoder_layer + n_dec * decoder_layer
            + 2 * norm + linear(d, v_tgt))      # final encoder/decoder LayerNorms, output head


# ---------------------------------------------------------------- build() and bad input

def test_model_names_are_the_contract():
    assert set(MODEL_NAMES) == {"fcn", "alexnet", "resnet56", "resnet34", "resnet50", "transformer"}


def test_unknown_model_lists_the_names():
    with pytest.raises(LsbookError, match="model 'vgg'.*alexnet.*transformer"):
        build("vgg", 10)


@pytest.mark.parametrize("name, kw, parameter", [
    ("fcn", {"hiden": 800}, "hiden"),
    ("fcn", {"hidden": 0}, "hidden"),
    ("fcn", {"dropout": 1.0}, "dropout"),
    ("fcn", {"init": "uniform"}, "init"),
    ("fcn", {"init_scale": -0.03}, "init_scale"),
    ("fcn", {"num_classes_": 3}, "num_classes_"),
    ("alexnet", {"head_std": 0.0}, "head_std"),
    ("resnet56", {"width": 0}, "width"),
    ("resnet56", {"stem_kernel": 4}, "stem_kernel"),
    ("resnet34", {"pretrained": "yes"}, "pretrained"),
    ("resnet50", {"weights_path": "/tmp/w.pth"}, "weights_path"),
    ("transformer", {}, "src_vocab"),
    ("transformer", {"src_vocab": 20, "d_model": 30, "nhead": 4}, "nhead"),
])
def test_bad_kwargs_name_the_parameter(name, kw, parameter):
    with pytest.raises(LsbookError, match=parameter):
        build(name, 10, **kw)


def test_bad_num_classes_is_named():
    with pytest.raises(LsbookError, match="num_classes"):
        build("fcn", 1)


# ---------------------------------------------------------------- the classifier contract

CLASSIFIERS = [  # name, kwargs, input shape, penultimate width
    ("fcn", {"hidden": 32, "dropout": 0.5}, (3, 1, 28, 28), 32),
    ("alexnet", {}, (3, 3, 24, 24), 192),
    ("resnet56", {}, (2, 3, 32, 32), 64),
    ("resnet56", {"width": 32, "stem_kernel": 7}, (2, 3, 32, 32), 128),
    ("resnet34", {}, (1, 3, 32, 32), 512),
    ("resnet50", {}, (1, 3, 32, 32), 2048),
]


@pytest.mark.parametrize("name, kw, shape, width", CLASSIFIERS, ids=lambda v: str(v))
def test_forward_is_head_of_features(name, kw, shape, width):
    model = built(name, 7, **kw)
    x = torch.randn(shape)
    with torch.no_grad():
        logits, features = model(x), model.features(x)
    assert isinstance(model.head, nn.Linear)
    assert model.head.weight.shape == (7, width) and model.head.bias.shape == (7,)
    assert logits.shape == (shape[0], 7) and features.shape == (shape[0], width)
    assert (features >= 0).all(), "penultimate activations are taken after the ReLU"
    torch.testing.assert_close(model.head(features), logits)


def test_fcn_features_with_dropout_in_training_mode_are_what_the_head_sees():
    model = build("fcn", 10, hidden=64, dropout=0.5).train()
    x = torch.rand(4, 1, 28, 28)
    torch.manual_seed(1)
    logits = model(x)
    torch.manual_seed(1)
    features = model.features(x)
    torch.testing.assert_close(model.head(features), logits)
    assert (features == 0).float().mean() > 0.3  # dropout (and ReLU) zeroed a share of units


def test_fcn_features_are_post_relu_not_the_fc2_output():
    """The replication hooked fc2's pre-ReLU output; features must be relu(fc2(...))."""
    torch.manual_seed(0)
    model = build("fcn", 10, hidden=64).eval()
    x = torch.rand(8, 1, 28, 28)
    pre_relu = model.fc2(torch.relu(model.fc1(x.flatten(1))))
    assert (pre_relu < 0).any()
    torch.testing.assert_close(model.features(x), torch.relu(pre_relu))


# ---------------------------------------------------------------- parameter counts

@pytest.mark.parametrize("n, k", [(1200, 10), (800, 10), (1200, 47)])
def test_fcn_parameter_count(n, k):
    assert n_params(build("fcn", k, hidden=n)) == fcn_count(n, k)


def test_alexnet_parameter_count():
    assert n_params(build("alexnet", 10)) == alexnet_count(10)


@pytest.mark.parametrize("width, stem, k", [(16, 3, 10), (16, 7, 100), (32, 3, 10), (32, 7, 100)])
def test_resnet56_parameter_count(width, stem, k):
    assert n_params(build("resnet56", k, width=width, stem_kernel=stem)) == preact_resnet_count(width, stem=stem, k=k)


def test_resnet56_is_the_size_he_et_al_report():
    """He et al. (2016) give 0.85M parameters for ResNet-56 (16/32/64 channels). Nearly all of them
    are the 3x3 convolutions: 2 per block, 9 blocks per stage, 9·c² weights each, so about
    18·9·(16² + 32² + 64²) = 0.88M less the first blocks' smaller inputs. Width 32 quadruples it."""
    count = n_params(build("resnet56", 10))
    assert abs(count - 0.85e6) < 0.02e6
    assert 3.9 < n_params(build("resnet56", 10, width=32)) / count < 4.1


def test_resnet56_has_56_weighted_layers():
    model = build("resnet56", 10)
    convs_3x3 = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(convs_3x3) + len(linears) == 56   # stem + 2·27 block convolutions + head


@pytest.mark.parametrize("arch", ["resnet34", "resnet50"])
def test_torchvision_resnet_parameter_count(arch):
    assert n_params(built(arch, 7)) == torchvision_resnet_count(arch, 7)


@pytest.mark.parametrize("arch", ["resnet34", "resnet50"])
def test_resnet_formula_agrees_with_torchvision_imagenet_metadata(arch):
    """The formula at K = 1000 gives the count torchvision publishes for its ImageNet weights."""
    from lsbook.models.resnet_imagenet import IMAGENET_WEIGHTS
    assert torchvision_resnet_count(arch, 1000) == IMAGENET_WEIGHTS[arch].meta["num_params"]


@pytest.mark.parametrize("d, nhead, ff, n_enc, n_dec", [(32, 4, 64, 2, 1), (512, 8, 512, 3, 3)])
def test_transformer_parameter_count(d, nhead, ff, n_enc, n_dec):
    model = build("transformer", 37, src_vocab=41, d_model=d, nhead=nhead, dim_feedforward=ff,
                  num_encoder_layers=n_enc, num_decoder_layers=n_dec)
    assert n_params(model) == transformer_count(41, 37, d, ff, n_enc, n_dec)


# ---------------------------------------------------------------- initialisation

@pytest.mark.parametrize("init, expected_std", [("variance", math.sqrt(0.03)), ("std", 0.03)])
def test_fcn_init_variance_or_std(init, expected_std):
    torch.manual_seed(0)
    model = build("fcn", 10, hidden=1200, init=init, init_scale=0.03)
    for layer in (model.fc1, model.fc2):
        assert abs(layer.weight.std().item() / expected_std - 1) < 0.01
        assert abs(layer.weight.mean().item()) < 0.01 * expected_std
        assert (layer.bias == 0).all()


def truncated_normal_std(std: float, cut: float = 2.0) -> float:
    """Std of N(0, std²) truncated to ±cut·std: std·sqrt(1 − 2c·φ(c) / (2Φ(c) − 1))."""
    phi = math.exp(-cut ** 2 / 2) / math.sqrt(2 * math.pi)
    mass = math.erf(cut / math.sqrt(2))           # 2Φ(c) − 1
    return std * math.sqrt(1 - 2 * cut * phi / mass)


def test_alexnet_head_init_is_a_truncated_normal_not_a_constant():
    """The replication's trunc_normal_(a == b) gave every head weight one value."""
    torch.manual_seed(0)
    model = build("alexnet", 10)
    head = model.head.weight.detach()
    assert head.unique().numel() > 0.99 * head.numel()
    assert abs(head.std().item() / truncated_normal_std(1 / 192) - 1) < 0.05
    assert head.abs().max() <= 2 / 192 and abs(head.mean().item()) < 0.1 / 192
    fc1 = model.fc1.weight.detach()
    assert abs(fc1.std().item() / truncated_normal_std(0.04) - 1) < 0.01
    assert (model.head.bias == 0).all() and (model.fc2.bias == 0.1).all()


# ---------------------------------------------------------------- AlexNet matches the TensorFlow ops

def test_alexnet_pooling_is_tensorflow_same_padding():
    """3x3/2 'SAME' max-pool on 24 columns pads one column at the end only: windows
    [0,2], [2,4], ..., [20,22], [22,23] -> maxima 2, 4, ..., 22, 23."""
    model = build("alexnet", 10)
    row = torch.arange(24.0).repeat(24, 1)[None, None]    # [1, 1, 24, 24], value = column index
    pooled = model.pool(row)[0, 0, 0]
    assert pooled.tolist() == [float(v) for v in range(2, 23, 2)] + [23.0]


def test_alexnet_lrn_is_tensorflow_lrn():
    """tf.nn.lrn(depth_radius=4, bias=1, alpha=0.001/9, beta=0.75):
    x_c / (1 + 0.001/9 · Σ_{|j−c|≤4} x_j²)^0.75."""
    model = build("alexnet", 10)
    x = torch.randn(2, 64, 3, 3) * 10
    squares = torch.nn.functional.pad(x ** 2, (0, 0, 0, 0, 4, 4))       # pad channels by 4
    window = sum(squares[:, j:j + 64] for j in range(9))
    expected = x / (1 + 0.001 / 9 * window) ** 0.75
    torch.testing.assert_close(model.lrn(x), expected)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_alexnet_lrn_agrees_with_pytorchs_in_value_and_gradient(layout):
    """The band-matrix LRN is nn.LocalResponseNorm's function (to float rounding, not bit for bit),
    and it keeps no weights: a stored AlexNet's state dict is the same with either."""
    model = build("alexnet", 10)
    reference = torch.nn.LocalResponseNorm(size=9, alpha=0.001, beta=0.75, k=1.0)
    x = (torch.randn(4, 64, 6, 6, dtype=torch.float64) * 10).contiguous(memory_format=layout)
    ours, theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    model.lrn.double()(ours).pow(2).sum().backward()
    reference(theirs).pow(2).sum().backward()
    torch.testing.assert_close(model.lrn(x), reference(x), rtol=1e-12, atol=0)
    torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-10, atol=0)
    assert not any("band" in name for name in build("alexnet", 10).state_dict())
    with pytest.raises(LsbookError, match="LRN size must be odd"):
        ChannelLRN(64, 8, 0.001, 0.75, 1.0)


# ---------------------------------------------------------------- ImageNet weights

def test_pretrained_weights_are_loaded_from_weights_path(tmp_path):
    import torchvision
    torch.manual_seed(3)
    source = torchvision.models.resnet34(weights=None)
    path = tmp_path / "my-resnet34.pth"
    torch.save(source.state_dict(), path)
    model = build("resnet34", 200, pretrained=True, weights_path=path)
    torch.testing.assert_close(model.backbone.conv1.weight, source.conv1.weight)
    torch.testing.assert_close(model.backbone.layer4[2].bn2.running_var, source.layer4[2].bn2.running_var)
    assert model.head.weight.shape == (200, 512)


def test_missing_weights_say_which_file_to_place_where(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(DataMissingError) as error:
        build("resnet50", 200, pretrained=True)
    message = str(error.value)
    assert "resnet50-11ad3fa6.pth" in message and str(tmp_path / "hub" / "checkpoints") in message
    assert "https://download.pytorch.org/models/resnet50-11ad3fa6.pth" in message


def test_corrupt_weights_in_the_hub_cache_are_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = tmp_path / "hub" / "checkpoints" / "resnet34-b627a593.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not weights")
    with pytest.raises(DataCorruptError, match="sha256"):
        build("resnet34", 200, pretrained=True)


def test_weights_of_another_architecture_are_reported(tmp_path):
    path = tmp_path / "other.pth"
    torch.save(build("resnet56", 10).state_dict(), path)
    with pytest.raises(DataCorruptError, match="do not fit"):
        build("resnet34", 200, pretrained=True, weights_path=path)


# ---------------------------------------------------------------- Transformer

def small_transformer(**kw):
    torch.manual_seed(0)
    config = dict(src_vocab=30, d_model=32, nhead=4, dim_feedforward=64, dropout=0.1)
    config.update(kw)
    return build("transformer", 25, **config).eval()


SRC = torch.tensor([[1, 5, 6, 7, 8, 2], [1, 9, 10, 2, 0, 0]])     # BOS=1, EOS=2, PAD=0
TGT = torch.tensor([[1, 4, 5, 6, 7], [1, 8, 9, 0, 0]])


def test_transformer_shapes_and_head():
    model = small_transformer()
    with torch.no_grad():
        memory = model.encode(SRC)
        hidden = model.decode(TGT, memory, SRC)
        logits = model(SRC, TGT)
    assert memory.shape == (2, 6, 32) and hidden.shape == (2, 5, 32) and logits.shape == (2, 5, 25)
    assert isinstance(model.head, nn.Linear) and model.head.weight.shape == (25, 32)
    torch.testing.assert_close(model.head(hidden), logits)


def test_source_padding_does_not_change_the_logits():
    model = small_transformer()
    padded = torch.cat([SRC, torch.zeros(2, 4, dtype=torch.long)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(model(padded, TGT), model(SRC, TGT))


def test_source_padding_is_masked_not_ignored_by_accident():
    """Counter-check: the same extra positions with a non-pad token do change the logits."""
    model = small_transformer()
    extended = torch.cat([SRC, torch.full((2, 4), 11)], dim=1)
    with torch.no_grad():
        assert not torch.allclose(model(extended, TGT), model(SRC, TGT), atol=1e-4)


def test_decoder_is_causal():
    model = small_transformer()
    changed = TGT.clone()
    changed[0, 3] = 20
    with torch.no_grad():
        before, after = model(SRC, TGT), model(SRC, changed)
    torch.testing.assert_close(after[0, :3], before[0, :3])
    assert not torch.allclose(after[0, 3:], before[0, 3:], atol=1e-4)
    torch.testing.assert_close(after[1], before[1])


def test_sinusoidal_positions_known_values():
    from lsbook.models.transformer import sinusoidal_positions
    table = sinusoidal_positions(50, 8)
    torch.testing.assert_close(table[0], torch.tensor([0.0, 1.0] * 4))
    torch.testing.assert_close(table[7, 0], torch.tensor(math.sin(7.0)))
    torch.testing.assert_close(table[7, 1], torch.tensor(math.cos(7.0)))
    torch.testing.assert_close(table[7, 2], torch.tensor(math.sin(7.0 / 10000 ** (2 / 8))))
