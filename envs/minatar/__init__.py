"""MinAtar games (Young & Tian, 2019) as Numba envs, matching the `minatar` package transition for transition.

`rlp/MinAtar-<Game>-v1` plays the game's minimal action set, `rlp/MinAtar-<Game>-v0` all 6 actions, as
`MinAtar/<Game>-v0/v1` in `minatar.gym`; env kwargs `sticky_action_prob` (default 0.1) and
`difficulty_ramping` (default True), e.g. `gymnasium.make_vec("rlp/MinAtar-Breakout-v1", num_envs=4096,
sticky_action_prob=0.0)`. Observations are bool (channels, 10, 10). See :mod:`.common` for what the games share.
"""

from rl_platform.envs.minatar.asterix import ASTERIX
from rl_platform.envs.minatar.breakout import BREAKOUT
from rl_platform.envs.minatar.common import MinAtarGame, make_env_def, versions
from rl_platform.envs.minatar.freeway import FREEWAY
from rl_platform.envs.minatar.space_invaders import SPACE_INVADERS

# (factory(**kwargs) -> NumbaEnvDef, max_episode_steps) for every env registered as rlp/<name>.
MINATAR = [
    *versions(BREAKOUT),
    *versions(FREEWAY),
    *versions(ASTERIX),
    *versions(SPACE_INVADERS),
]

__all__ = ["ASTERIX", "BREAKOUT", "FREEWAY", "MINATAR", "SPACE_INVADERS", "MinAtarGame", "make_env_def", "versions"]
