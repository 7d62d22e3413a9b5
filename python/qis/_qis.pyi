"""Type stubs of the native module `qis._qis` (the Rust library through PyO3)."""

from collections.abc import Awaitable, Mapping, Sequence
from os import PathLike
from types import TracebackType
from typing import Any, Literal, final

__version__: str

Outcome = Literal["resolved", "partial", "contradicted", "open"]
Method = Literal["weighted", "bayesian", "frequency"]
PerAgent = Literal["split", "newest", "all"]
Span = float | int | str
Json = Mapping[str, Any]
_Path = str | PathLike[str]

def address(domain: str, context: Json) -> str:
    """The seed-compatible `keys` address of a problem (hex)."""

class QisError(Exception):
    code: str
    field: str | None
    details: dict[str, Any]

class InvalidPacket(QisError): ...
class Conflict(QisError): ...
class Forgotten(QisError): ...
class SignatureError(QisError): ...
class NotSupported(QisError): ...
class Unavailable(QisError): ...
class StorageFull(QisError): ...
class NodeClosed(QisError): ...

@final
class Receipt:
    @property
    def id(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def stored(self) -> bool: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class Packet:
    @property
    def id(self) -> str: ...
    @property
    def agent(self) -> str: ...
    @property
    def domain(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def outcome(self) -> Outcome: ...
    @property
    def confidence(self) -> float: ...
    @property
    def result(self) -> dict[str, float | str | bool]: ...
    @property
    def summary(self) -> str: ...
    @property
    def tags(self) -> list[str]: ...
    @property
    def problem(self) -> str | None: ...
    @property
    def created(self) -> int: ...
    @property
    def ttl(self) -> int | None: ...
    @property
    def derived_from(self) -> list[str]: ...
    @property
    def signed(self) -> bool: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class Hit:
    @property
    def score(self) -> float: ...
    @property
    def packet(self) -> Packet: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class Insight:
    @property
    def method(self) -> Method: ...
    @property
    def best(self) -> dict[str, float | str | bool] | None: ...
    @property
    def confidence(self) -> float: ...
    @property
    def sample_size(self) -> int: ...
    @property
    def agents(self) -> int: ...
    @property
    def consensus_rate(self) -> float | None: ...
    @property
    def outcome(self) -> Outcome | None: ...
    @property
    def used(self) -> list[str]: ...
    def to_dict(self) -> dict[str, Any]: ...
    def __bool__(self) -> bool: ...

@final
class Stats:
    @property
    def packets(self) -> int: ...
    @property
    def addresses(self) -> int: ...
    @property
    def vectors(self) -> int: ...
    @property
    def expired(self) -> int: ...
    @property
    def dimension(self) -> int | None: ...
    @property
    def router(self) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...

class _NodeBase:
    def __init__(
        self,
        agent: str,
        router: str | None = None,
        *,
        data: _Path | None = None,
        config: _Path | None = None,
        embedder: str | None = None,
        model_dir: _Path | None = None,
        fingerprint: str | None = None,
        signing_key: _Path | None = None,
        agent_keys: _Path | None = None,
    ) -> None: ...
    @property
    def agent(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    def address(self, domain: str, context: Json) -> str: ...
    def close(self) -> None: ...

@final
class Node(_NodeBase):
    def deposit(
        self,
        domain: str,
        context: Json | None = None,
        *,
        outcome: Outcome,
        confidence: float,
        result: Mapping[str, float | int | str | bool] | None = None,
        summary: str | None = None,
        tags: Sequence[str] | None = None,
        problem: str | None = None,
        ttl: Span | None = None,
    ) -> Receipt: ...
    def deposit_many(self, items: Sequence[Mapping[str, Any]]) -> list[Receipt]: ...
    def consult(
        self,
        domain: str | None = None,
        context: Json | None = None,
        *,
        problem: str | None = None,
        address: str | None = None,
        method: Method = "weighted",
        per_agent: PerAgent = "split",
        tags_any: Sequence[str] | None = None,
        min_confidence: float | None = None,
        outcomes: Sequence[Outcome] | None = None,
        within: Span | None = None,
        exclude_self: bool = False,
        limit: int | None = None,
        min_score: float | None = None,
        max_per_agent: int | None = None,
        verified_only: bool = False,
    ) -> Insight: ...
    def query(
        self,
        domain: str | None = None,
        context: Json | None = None,
        *,
        problem: str | None = None,
        address: str | None = None,
        tags_any: Sequence[str] | None = None,
        min_confidence: float | None = None,
        outcomes: Sequence[Outcome] | None = None,
        within: Span | None = None,
        exclude_self: bool = False,
        limit: int | None = None,
        min_score: float | None = None,
        max_per_agent: int | None = None,
        verified_only: bool = False,
    ) -> list[Hit]: ...
    def close_loop(
        self, domain: str, context: Json | None = None, *, problem: str | None = None
    ) -> tuple[Insight, Receipt] | None: ...
    def forget(
        self, ids: Sequence[str] | None = None, *, address: str | None = None, everything: bool = False
    ) -> int: ...
    def stats(self) -> Stats: ...
    def __enter__(self) -> Node: ...
    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool: ...

@final
class AsyncNode(_NodeBase):
    def deposit(
        self,
        domain: str,
        context: Json | None = None,
        *,
        outcome: Outcome,
        confidence: float,
        result: Mapping[str, float | int | str | bool] | None = None,
        summary: str | None = None,
        tags: Sequence[str] | None = None,
        problem: str | None = None,
        ttl: Span | None = None,
    ) -> Awaitable[Receipt]: ...
    def deposit_many(self, items: Sequence[Mapping[str, Any]]) -> Awaitable[list[Receipt]]: ...
    def consult(
        self,
        domain: str | None = None,
        context: Json | None = None,
        *,
        problem: str | None = None,
        address: str | None = None,
        method: Method = "weighted",
        per_agent: PerAgent = "split",
        tags_any: Sequence[str] | None = None,
        min_confidence: float | None = None,
        outcomes: Sequence[Outcome] | None = None,
        within: Span | None = None,
        exclude_self: bool = False,
        limit: int | None = None,
        min_score: float | None = None,
        max_per_agent: int | None = None,
        verified_only: bool = False,
    ) -> Awaitable[Insight]: ...
    def query(
        self,
        domain: str | None = None,
        context: Json | None = None,
        *,
        problem: str | None = None,
        address: str | None = None,
        tags_any: Sequence[str] | None = None,
        min_confidence: float | None = None,
        outcomes: Sequence[Outcome] | None = None,
        within: Span | None = None,
        exclude_self: bool = False,
        limit: int | None = None,
        min_score: float | None = None,
        max_per_agent: int | None = None,
        verified_only: bool = False,
    ) -> Awaitable[list[Hit]]: ...
    def close_loop(
        self, domain: str, context: Json | None = None, *, problem: str | None = None
    ) -> Awaitable[tuple[Insight, Receipt] | None]: ...
    def forget(
        self, ids: Sequence[str] | None = None, *, address: str | None = None, everything: bool = False
    ) -> Awaitable[int]: ...
    def stats(self) -> Awaitable[Stats]: ...
    async def __aenter__(self) -> AsyncNode: ...
    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool: ...
