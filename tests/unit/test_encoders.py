"""The `cnn` and `transformer` encoders and their config keys: sizes, input scaling, tokens, causality, errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from rl_platform.config import EnvConfig, ModelConfig, parse_dataclass
from rl_platform.errors import ConfigError
from rl_platform.nn import CNNEncoder, TransformerEncoder, build_encoder
from rl_platform.nn.transformer import FrameTokens, PatchTokens
from rl_platform.registry import ENCODERS

MINATAR_SPACE = gym.spaces.Box(0, 1, shape=(4, 10, 10), dtype=bool)
ATARI_SPACE = gym.spaces.Box(0, 255, shape=(4, 84, 84), dtype=np.uint8)


def test_every_encoder_is_registered():
    assert {"mlp", "cnn", "transformer"} <= set(ENCODERS.names())


# -- cnn ------------------------------------------------------------------------------------------


def test_cnn_default_layout_on_small_frames_is_two_3x3_layers():
    encoder = build_encoder(MINATAR_SPACE, ModelConfig(encoder={"name": "cnn", "features_dim": 64}))
    assert isinstance(encoder, CNNEncoder)
    convs = [layer for layer in encoder.convs if isinstance(layer, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (4, 16, (3, 3), (1, 1)), (16, 32, (3, 3), (1, 1))]
    # 10 -> 8 -> 6: 32 channels of 6 x 6 after the convolutions
    assert encoder.linear[0].in_features == 32 * 6 * 6
    assert encoder.out_dim == 64 and encoder(torch.zeros(5, 4, 10, 10, dtype=torch.bool)).shape == (5, 64)


def test_cnn_default_layout_on_atari_frames_is_nature_cnn():
    encoder = build_encoder(ATARI_SPACE, ModelConfig(encoder="cnn"))
    # 84 -> (84 - 8) / 4 + 1 = 20 -> (20 - 4) / 2 + 1 = 9 -> 9 - 3 + 1 = 7: the Nature paper's 64 x 7 x 7
    assert encoder.linear[0].in_features == 3136 and encoder.out_dim == 256


def test_cnn_configured_layout_and_stacked_frames_merged_into_channels():
    stacked = gym.spaces.Box(0.0, 1.0, shape=(3, 2, 12, 12), dtype=np.float32)  # history of 3 two-channel images
    cfg = ModelConfig(encoder={"name": "cnn", "channels": [8], "kernels": [4], "strides": [2], "features_dim": 16})
    encoder = build_encoder(stacked, cfg)
    assert encoder.convs[0].in_channels == 6
    assert encoder.linear[0].in_features == 8 * 5 * 5  # (12 - 4) / 2 + 1 = 5
    assert encoder(torch.rand(7, 3, 2, 12, 12)).shape == (7, 16)


def test_cnn_scales_uint8_pixels_into_unit_range_and_casts_bool_images():
    torch.manual_seed(0)
    uint8_space = gym.spaces.Box(0, 255, shape=(1, 10, 10), dtype=np.uint8)
    float_space = gym.spaces.Box(0.0, 1.0, shape=(1, 10, 10), dtype=np.float32)
    pixels = build_encoder(uint8_space, ModelConfig(encoder="cnn"))
    floats = build_encoder(float_space, ModelConfig(encoder="cnn"))
    floats.load_state_dict(pixels.state_dict())
    image = torch.randint(0, 256, (2, 1, 10, 10), dtype=torch.uint8)
    torch.testing.assert_close(pixels(image), floats(image.float() / 255))
    bools = build_encoder(gym.spaces.Box(0, 1, shape=(1, 10, 10), dtype=bool), ModelConfig(encoder="cnn"))
    bools.load_state_dict(pixels.state_dict())
    mask = torch.rand(2, 1, 10, 10) > 0.5
    torch.testing.assert_close(bools(mask), floats(mask.float()))


def test_cnn_errors_name_the_key():
    with pytest.raises(ConfigError, match="model.encoder"):
        build_encoder(gym.spaces.Box(-1, 1, shape=(4,)), ModelConfig(encoder="cnn"))
    too_big = ModelConfig(encoder={"name": "cnn", "channels": [8, 8], "kernels": [5, 5], "strides": [1, 1]})
    with pytest.raises(ConfigError, match="model.encoder.kernels"):
        build_encoder(gym.spaces.Box(0.0, 1.0, shape=(1, 6, 6)), too_big)  # 6 -> 2, then a 5 x 5 kernel


# -- transformer ----------------------------------------------------------------------------------


def test_frame_tokens_embed_each_history_frame_alone():
    tokens = FrameTokens(gym.spaces.Box(-1.0, 1.0, shape=(3, 2)), width=1)
    with torch.no_grad():
        tokens.embed.weight.copy_(torch.tensor([[1.0, 10.0]]))
        tokens.embed.bias.zero_()
    history = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])
    torch.testing.assert_close(tokens(history), torch.tensor([[[21.0], [43.0], [65.0]]]))
    assert FrameTokens(gym.spaces.Box(-1.0, 1.0, shape=(5,)), width=4).num_tokens == 1  # a single frame


def test_patch_tokens_are_patches_in_row_major_order():
    tokens = PatchTokens(gym.spaces.Box(0.0, 15.0, shape=(4, 4)), width=1, patch_size=2)
    with torch.no_grad():
        tokens.embed.weight.fill_(1.0)  # each token: the sum of its patch
        tokens.embed.bias.zero_()
    image = torch.arange(16.0).reshape(1, 4, 4)
    # patches [[0, 1], [4, 5]], [[2, 3], [6, 7]], [[8, 9], [12, 13]], [[10, 11], [14, 15]]
    torch.testing.assert_close(tokens(image), torch.tensor([[[10.0], [18.0], [42.0], [50.0]]]))
    assert PatchTokens(MINATAR_SPACE, width=8, patch_size=3).num_tokens == 9  # the 10th row and column dropped


def transformer(space: gym.Space, **options) -> TransformerEncoder:
    torch.manual_seed(0)
    cfg = ModelConfig(encoder={"name": "transformer", "width": 16, "heads": 2, "ff_width": 32, **options})
    return build_encoder(space, cfg).eval()


HISTORY_SPACE = gym.spaces.Box(-5.0, 5.0, shape=(4, 2))


def test_causal_transformer_tokens_see_only_earlier_frames_and_features_are_the_last_token():
    encoder = transformer(HISTORY_SPACE)
    history = torch.randn(3, 4, 2)
    changed = history.clone()
    changed[:, 2:] += 1.0  # the two newest frames
    with torch.no_grad():
        before, after = encoder.token_features(history), encoder.token_features(changed)
        torch.testing.assert_close(before[:, :2], after[:, :2])
        assert not torch.allclose(before[:, 2:], after[:, 2:])
        torch.testing.assert_close(encoder(history), before[:, -1])
    assert encoder.out_dim == 16 and encoder(history).shape == (3, 16)


def test_full_attention_transformer_mixes_all_frames_and_averages_the_tokens():
    encoder = transformer(HISTORY_SPACE, causal=False)
    history = torch.randn(3, 4, 2)
    changed = history.clone()
    changed[:, 3] += 1.0  # the newest frame only
    with torch.no_grad():
        before, after = encoder.token_features(history), encoder.token_features(changed)
        assert not torch.allclose(before[:, 0], after[:, 0])
        torch.testing.assert_close(encoder(history), before.mean(dim=1))


def test_transformer_on_image_patches():
    encoder = transformer(MINATAR_SPACE, patch_size=5, causal=False)
    assert encoder.tokens.num_tokens == 4 and encoder.position.shape == (1, 4, 16)
    assert encoder(torch.zeros(2, 4, 10, 10, dtype=torch.bool)).shape == (2, 16)
    with pytest.raises(ConfigError, match="model.encoder.patch_size"):
        transformer(MINATAR_SPACE, patch_size=11)
    with pytest.raises(ConfigError, match="model.encoder"):
        transformer(gym.spaces.Box(0.0, 1.0, shape=(6,)), patch_size=2)


# -- config keys -----------------------------------------------------------------------------------


TRANSFORMER, CNN = {"encoder": "transformer"}, {"encoder": "cnn"}


@pytest.mark.parametrize(("section", "values", "key"), [
    # the nested form
    ("model", {"encoder": {"name": "transformer", "width": 30, "heads": 4}}, "model.encoder.heads"),
    ("model", {"encoder": {"name": "cnn", "channels": [8, 8], "kernels": [3], "strides": [1]}},
     "model.encoder.channels"),
    ("model", {"encoder": {"name": "cnn", "channels": [8], "kernels": [0], "strides": [1]}}, "model.encoder.kernels"),
    ("model", {"encoder": {"name": "transformer", "dropout": 1.0}}, "model.encoder.dropout"),
    ("model", {"encoder": {"name": "transformer", "patch_size": -1}}, "model.encoder.patch_size"),
    ("model", {"encoder": {"name": "cnn", "features_dim": 0}}, "model.encoder.features_dim"),
    ("model", {"encoder": {"name": "mlp", "hidden_sizes": [0]}}, "model.encoder.hidden_sizes"),
    # the old flat keys: errors name the key as written
    ("model", {**TRANSFORMER, "transformer_width": 30, "transformer_heads": 4}, "model.transformer_heads"),
    ("model", {**CNN, "cnn_channels": [8, 8], "cnn_kernels": [3], "cnn_strides": [1]}, "model.cnn_channels"),
    ("model", {**CNN, "cnn_channels": [8], "cnn_kernels": [0], "cnn_strides": [1]}, "model.cnn_kernels"),
    ("model", {**TRANSFORMER, "transformer_dropout": 1.0}, "model.transformer_dropout"),
    ("model", {**TRANSFORMER, "patch_size": -1}, "model.patch_size"),
    ("model", {**CNN, "features_dim": 0}, "model.features_dim"),
    ("model", {"features_dim": 64}, "model.features_dim"),  # mlp (the default encoder) has no features_dim
    ("env", {"history": 0}, "env.history"),
])
def test_bad_encoder_and_history_values_are_config_errors_naming_the_key(section, values, key):
    cls = {"model": ModelConfig, "env": EnvConfig}[section]
    with pytest.raises(ConfigError) as caught:
        parse_dataclass(cls, values, section)
    assert caught.value.key_path == key
