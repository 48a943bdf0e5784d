"""Qdrant server (or cluster) store through qdrant-client: same layout and queries as the Edge store.

Searches use the alias `<collection>`; it points at a physical collection `<collection>-<stamp>`.
A full rebuild fills a new physical collection and moves the alias in one atomic operation.
The settings hash and times live in the collection's metadata. `QdrantClient(path=...)` or
`":memory:"` (qdrant-client's local mode) speak the same API and serve the tests.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from qdrant_client import QdrantClient, models

from services.retrieval.store import (
    DENSE, SPARSE, Found, QueryPlan, StoreInfo, StoredPoint, page_hash_pairs, vector_config,
)
from shared.errors import InvalidName
from shared.names import check_name

log = logging.getLogger(__name__)


class RemoteStore:
    backend = "qdrant-server"

    def __init__(self, client: QdrantClient, alias: str, server: bool = True) -> None:
        self.client, self.alias, self.server = client, alias, server
        if not server:
            self.backend = "qdrant-client-local"

    @classmethod
    def connect(cls, url: str, api_key: str, alias: str) -> "RemoteStore":
        """A server URL (http/https), or `:memory:` / a folder for qdrant-client's local mode."""
        if url.startswith(("http://", "https://")):
            return cls(QdrantClient(url=url, api_key=api_key or None), alias)
        location = {"location": ":memory:"} if url == ":memory:" else {"path": url}
        return cls(QdrantClient(**location), alias, server=False)  # type: ignore[arg-type]

    def _serving(self) -> str | None:
        for item in self.client.get_aliases().aliases:
            if item.alias_name == self.alias:
                return item.collection_name
        return None

    def _create(self, name: str, dim: int, settings_hash: str) -> None:
        now = time.time()
        self.client.create_collection(
            name, vectors_config={DENSE: models.VectorParams(size=dim,
                                                             distance=models.Distance.COSINE)},
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            metadata={"settings_hash": settings_hash, "created_at": now, "updated_at": now,
                      "dim": dim})
        if self.server:  # local mode has no payload indexes
            for key in ("url", "page_id"):
                self.client.create_payload_index(name, key, models.PayloadSchemaType.KEYWORD)

    def _own(self, build: str) -> str:
        """A build name from a request names one of this alias's collections, no other."""
        if not check_name(build, "build").startswith(f"{self.alias}-"):
            raise InvalidName(f"build: {build!r} is not a build of {self.alias}")
        return build

    def _touch(self, name: str) -> None:
        self.client.update_collection(name, metadata={"updated_at": time.time()})

    def start_build(self, settings_hash: str, dim: int) -> str:
        """An empty collection that searches do not see until it is published."""
        name = f"{self.alias}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self._create(name, dim, settings_hash)
        return name

    def _target(self, build: str | None, dim: int) -> str:
        if build:
            if not self.client.collection_exists(self._own(build)):
                raise KeyError(f"no build {build}")
            return build
        name = self._serving()
        if name is None:  # the first write ever: an unversioned collection behind the alias
            name = self.start_build("", dim)
            self._move_alias(name)
        return name

    def _move_alias(self, name: str) -> None:
        actions: list[Any] = [models.CreateAliasOperation(create_alias=models.CreateAlias(
            collection_name=name, alias_name=self.alias))]
        if self._serving() is not None:
            actions.insert(0, models.DeleteAliasOperation(
                delete_alias=models.DeleteAlias(alias_name=self.alias)))
        self.client.update_collection_aliases(change_aliases_operations=actions)

    def publish(self, build: str) -> None:
        old = self._serving()
        if not self.client.collection_exists(self._own(build)):
            raise KeyError(f"no build {build}")
        self._move_alias(build)
        if old and old != build:
            self.client.delete_collection(old)
        log.info("alias %s now points at %s (was %s)", self.alias, build, old)

    def abort(self, build: str) -> None:
        if build != self._serving() and self.client.collection_exists(self._own(build)):
            self.client.delete_collection(build)

    def upsert(self, points: list[StoredPoint], build: str | None = None) -> None:
        if not points:
            return
        name = self._target(build, len(points[0].dense))
        self.client.upsert(name, points=[models.PointStruct(
            id=p.id, payload=p.payload, vector={
                DENSE: p.dense,
                SPARSE: models.SparseVector(indices=p.sparse.indices, values=p.sparse.values)})
            for p in points])
        self._touch(name)

    def delete(self, *, url: str | None = None, page_id: str | None = None,
               keep_page_hash: str | None = None, build: str | None = None) -> int:
        name = self._own(build) if build else self._serving()
        if name is None or not self.client.collection_exists(name):
            return 0
        must: list[Any] = [models.FieldCondition(key=k, match=models.MatchValue(value=v))
                           for k, v in (("url", url), ("page_id", page_id)) if v]
        must_not: list[Any] = [models.FieldCondition(
            key="page_hash", match=models.MatchValue(value=keep_page_hash))] if keep_page_hash else []
        flt = models.Filter(must=must, must_not=must_not or None)
        count = self.client.count(name, count_filter=flt, exact=True).count
        if count:
            self.client.delete(name, points_selector=models.FilterSelector(filter=flt))
            self._touch(name)
        return count

    def query(self, plan: QueryPlan) -> list[Found]:
        if self._serving() is None:
            return []
        response = self.client.query_points(self.alias, with_payload=True, **_query_args(plan))
        return [Found(str(p.id), float(p.score), dict(p.payload or {})) for p in response.points]

    def scroll(self, offset: str | None, limit: int, where: dict[str, str] | None = None
               ) -> tuple[list[dict[str, Any]], str | None]:
        if self._serving() is None:
            return [], None
        flt = models.Filter(must=[models.FieldCondition(key=k, match=models.MatchValue(value=v))
                                  for k, v in where.items()]) if where else None
        records, following = self.client.scroll(self.alias, limit=limit, offset=offset,
                                                scroll_filter=flt, with_payload=True)
        return [dict(r.payload or {}) | {"id": str(r.id)} for r in records], \
            (str(following) if following is not None else None)

    def page_hashes(self) -> dict[str, str]:
        """page_id -> page_hash of every stored page (what an incremental update compares)."""
        found: dict[str, str] = {}
        offset: Any = None
        while self._serving() is not None:
            records, offset = self.client.scroll(self.alias, limit=1000, offset=offset,
                                                 with_payload=["page_id", "page_hash"])
            found.update(page_hash_pairs(r.payload for r in records))
            if offset is None:
                break
        return found

    def info(self) -> StoreInfo:
        serving = self._serving()
        pending = sorted(c.name for c in self.client.get_collections().collections
                         if c.name.startswith(self.alias + "-") and c.name != serving)
        if serving is None:
            return StoreInfo(self.backend, self.alias, None, builds=pending)
        detail = self.client.get_collection(serving)
        meta = detail.config.metadata or {}
        return StoreInfo(self.backend, self.alias, serving, points=detail.points_count or 0,
                         settings_hash=meta.get("settings_hash") or None,
                         created_at=meta.get("created_at"), updated_at=meta.get("updated_at"),
                         vectors=vector_config(meta.get("dim")), builds=pending)

    def close(self) -> None:
        self.client.close()


def _query_args(plan: QueryPlan) -> dict[str, Any]:
    dense = plan.dense
    sparse = models.SparseVector(indices=plan.sparse.indices, values=plan.sparse.values) \
        if plan.sparse is not None else None
    if plan.mode == "dense":
        return {"query": dense, "using": DENSE, "limit": plan.limit}
    if plan.mode == "sparse":
        return {"query": sparse, "using": SPARSE, "limit": plan.limit}
    fusion: Any = models.FusionQuery(fusion=models.Fusion.DBSF) if plan.fusion == "dbsf" else \
        models.RrfQuery(rrf=models.Rrf(k=plan.rrf_k, weights=list(plan.weights)))
    return {"prefetch": [models.Prefetch(query=dense, using=DENSE, limit=plan.prefetch_limit),
                         models.Prefetch(query=sparse, using=SPARSE, limit=plan.prefetch_limit)],
            "query": fusion, "limit": plan.limit}
