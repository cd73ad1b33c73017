"""The executor with ``[builders]`` (docs/config.md#builder-engines): each build on the engine
its platform goes to.

:class:`PooledExecutor` is the executor whose ``_engine_for`` (the one method every build asks
for its engine) answers from an ``engine.pool.Builders``: a platform a builder lists goes to that
builder's engine, anything else to the default engine, which is the executor's own. Each
builder's engine bounds its own concurrent builds (its ``max_builds``). Ctrl-C cancels the
running builds of every engine opened, not only the default one's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubpub.executor import EngineLike, Executor

if TYPE_CHECKING:
    from hubpub.engine.pool import Builders  # the session imports it when it first builds


class PooledExecutor(Executor):
    def __init__(self, *args: Any, engines: Builders, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.engines = engines

    def _engine_for(self, platform: str | None) -> EngineLike:
        if self.engines.name_for(platform) is None:
            return self.engine()  # the default engine: the one the executor was given
        return self.engines.engine_for(platform)

    def _interrupt(self) -> None:
        super()._interrupt()
        for engine in self.engines.opened():
            engine.cancel_builds()  # the default one's again: harmless, its streams are gone
