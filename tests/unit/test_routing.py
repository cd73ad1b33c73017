"""routing.py: the executor's engine for each build, with [builders], without opening any
engine it does not route to (docs/config.md#builder-engines)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from hubpub.config.builders import Builder
from hubpub.engine.pool import Builders
from hubpub.errors import EngineError
from hubpub.routing import PooledExecutor

DEFAULT = cast(Any, object())  # the default engine, as the executor's factory gives it


def executor(pool: Builders) -> PooledExecutor:
    return PooledExecutor(cast(Any, object()), lambda: DEFAULT, {}, engines=pool)


@pytest.mark.parametrize(
    ("platform", "default"),
    [
        (None, True),  # the engine's own platform
        ("linux/amd64", True),  # no builder lists it
        ("linux/s390x", True),
        ("linux/arm64", False),  # builder 'arm'
        ("linux/aarch64", False),
    ],
)
def test_each_build_goes_to_the_default_engine_unless_a_builder_lists_its_platform(
    tmp_path: Any, platform: str | None, default: bool
) -> None:
    host = f"unix://{tmp_path}/arm.sock"  # nothing listens: a build routed there says so
    pool = Builders({"arm": Builder(docker_host=host, platforms=("linux/arm64",))}, {})
    if default:
        assert executor(pool)._engine_for(platform) is DEFAULT
        assert pool.opened() == []  # the builder was not even connected
    else:
        with pytest.raises(EngineError, match=f"cannot reach builder 'arm' at {host}"):
            executor(pool)._engine_for(platform)
