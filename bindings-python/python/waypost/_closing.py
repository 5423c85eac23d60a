"""``async with`` for objects that end with ``await close()``."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Self


class ClosesOnExit:
    """``async with obj:`` closes ``obj`` on the way out (and lets exceptions through)."""

    if TYPE_CHECKING:

        async def close(self) -> Any: ...

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        await self.close()
        return False
