"""Qdrant Edge store: one shard folder per build under DATA_DIR/qdrant/<collection>/.

    <collection>/current            names the serving build (atomic rename, shared/pointer.py)
    <collection>/<build>/shard/     the EdgeShard (created at the first upsert: the dim comes from it)
    <collection>/<build>/meta.json  settings hash, created/updated times

Only one process may open a shard (Qdrant Edge locks its WAL); a second one gets StoreLocked.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from services.retrieval.store import (
    DENSE, SPARSE, Found, QueryPlan, ReadWriteLock, StoreInfo, StoredPoint, StoreLocked,
    page_hash_pairs, vector_config,
)
from shared.names import child_path, is_name
from shared.pointer import read_pointer, write_pointer

log = logging.getLogger(__name__)
STALE_BUILD_SEC = 6 * 3600


class EdgeStore:
    backend = "qdrant-edge"

    def __init__(self, root: Path, alias: str) -> None:
        self.root, self.alias = Path(root), alias
        self.root.mkdir(parents=True, exist_ok=True)
        self._shards: dict[str, qe.EdgeShard] = {}
        self._lock = threading.RLock()  # opening, creating and dropping shards
        self._serving = ReadWriteLock()  # searches vs the switch to a new build
        self.current = read_pointer(self.root)
        if self.current:
            self._open(self.current)  # fail fast when another process holds the store

    # --- builds and shards ---

    def _folder(self, build: str) -> Path:
        """A build's folder: a name from a request never leaves the store's root."""
        return child_path(self.root, build, "build")

    def _meta_path(self, build: str) -> Path:
        return self._folder(build) / "meta.json"

    def _meta(self, build: str) -> dict[str, Any]:
        try:
            return json.loads(self._meta_path(build).read_text())
        except FileNotFoundError:
            return {}

    def _write_meta(self, build: str, **values: Any) -> None:
        meta = self._meta(build) | values
        path = self._meta_path(build)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(meta))
        tmp.replace(path)

    def _open(self, build: str, dim: int | None = None) -> qe.EdgeShard | None:
        """The open shard of a build; created when dim is given and it does not exist yet."""
        with self._lock:
            if build in self._shards:
                return self._shards[build]
            path = self._folder(build) / "shard"
            try:
                if path.exists():
                    shard = qe.EdgeShard.load(str(path))
                elif dim:
                    shard = qe.EdgeShard.create(str(path), _config(dim))
                    for key in ("url", "page_id"):
                        shard.update(qe.UpdateOperation.create_field_index(
                            key, qe.PayloadSchemaType.Keyword))
                    self._write_meta(build, dim=dim)
                else:
                    return None
            except Exception as error:
                if "WouldBlock" in str(error):
                    raise StoreLocked(f"{path} is open in another process (the retrieval "
                                      "service?)") from None
                raise
            self._shards[build] = shard
            return shard

    def _target(self, build: str | None, dim: int) -> str:
        if build:
            if not self._folder(build).is_dir():
                raise KeyError(f"no build {build}")
            return build
        with self._lock:
            if not self.current:  # the first write ever: an unversioned collection
                self.current = self.start_build("", dim)
                write_pointer(self.root, self.current)
            return self.current

    def start_build(self, settings_hash: str, dim: int) -> str:
        """A new, empty build that searches do not see until it is published."""
        self._drop_stale()
        name = time.strftime("b%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        now = time.time()
        self._write_meta(name, settings_hash=settings_hash, created_at=now, updated_at=now)
        self._open(name, dim)
        return name

    def publish(self, build: str) -> None:
        """Make a build the serving one; the previous one is closed and removed."""
        if not self._folder(build).is_dir():
            raise KeyError(f"no build {build}")
        shard = self._open(build)
        if shard is not None:
            shard.optimize()
            shard.flush()
        with self._serving.writing():
            old, self.current = self.current, build
            write_pointer(self.root, build)
        if old and old != build:
            self._drop(old)
        log.info("published build %s (was %s)", build, old)

    def abort(self, build: str) -> None:
        if build != self.current:
            self._drop(build)

    def _drop(self, build: str) -> None:
        folder = self._folder(build)
        with self._lock:
            shard = self._shards.pop(build, None)
            if shard is not None:
                shard.close()
            shutil.rmtree(folder, ignore_errors=True)

    def _drop_stale(self) -> None:
        for folder in self.root.iterdir():
            if not folder.is_dir() or not is_name(folder.name):
                continue  # not a build (a temp file)
            if folder.name not in (self.current, *self._shards):
                if time.time() - self._meta(folder.name).get("updated_at", 0) > STALE_BUILD_SEC:
                    self._drop(folder.name)

    # --- points ---

    def upsert(self, points: list[StoredPoint], build: str | None = None) -> None:
        if not points:
            return
        name = self._target(build, len(points[0].dense))
        shard = self._open(name, dim=len(points[0].dense))
        assert shard is not None
        shard.update(qe.UpdateOperation.upsert_points([
            qe.Point(p.id, {DENSE: p.dense, SPARSE: qe.SparseVector(p.sparse.indices,
                                                                    p.sparse.values)}, p.payload)
            for p in points]))
        self._write_meta(name, updated_at=time.time())

    def delete(self, *, url: str | None = None, page_id: str | None = None,
               keep_page_hash: str | None = None, build: str | None = None) -> int:
        shard = self._open(build or self.current) if (build or self.current) else None
        if shard is None:
            return 0
        must = [qe.FieldCondition(key=k, match=qe.MatchValue(v))
                for k, v in (("url", url), ("page_id", page_id)) if v]
        must_not = [qe.FieldCondition(key="page_hash", match=qe.MatchValue(keep_page_hash))] \
            if keep_page_hash else None
        flt = qe.Filter(must=must, must_not=must_not)
        count = shard.count(qe.CountRequest(filter=flt, exact=True))
        if count:
            shard.update(qe.UpdateOperation.delete_points_by_filter(flt))
            self._write_meta(build or self.current or "", updated_at=time.time())
        return count

    def query(self, plan: QueryPlan) -> list[Found]:
        with self._serving.reading():
            shard = self._open(self.current) if self.current else None
            if shard is None:
                return []
            points = shard.query(_request(plan))
        return [Found(str(p.id), float(p.score), dict(p.payload or {})) for p in points]

    def scroll(self, offset: str | None, limit: int, where: dict[str, str] | None = None
               ) -> tuple[list[dict[str, Any]], str | None]:
        flt = qe.Filter(must=[qe.FieldCondition(key=k, match=qe.MatchValue(v))
                              for k, v in where.items()]) if where else None
        with self._serving.reading():
            shard = self._open(self.current) if self.current else None
            if shard is None:
                return [], None
            records, following = shard.scroll(qe.ScrollRequest(
                offset=uuid.UUID(offset) if offset else None, limit=limit, filter=flt,
                with_payload=True))
        return [dict(r.payload or {}) | {"id": str(r.id)} for r in records], \
            (str(following) if following is not None else None)

    def page_hashes(self) -> dict[str, str]:
        """page_id -> page_hash of every stored page (what an incremental update compares)."""
        found: dict[str, str] = {}
        offset = None
        with self._serving.reading():
            shard = self._open(self.current) if self.current else None
            while shard is not None:
                records, offset = shard.scroll(qe.ScrollRequest(
                    offset=offset, limit=1000, with_payload=["page_id", "page_hash"]))
                found.update(page_hash_pairs(r.payload for r in records))
                if offset is None:
                    break
        return found

    def info(self) -> StoreInfo:
        with self._serving.reading():
            current = self.current
            shard = self._open(current) if current else None
            points = shard.info().points_count if shard else 0
        meta = self._meta(current) if current else {}
        builds = sorted(f.name for f in self.root.iterdir() if f.is_dir() and f.name != current)
        return StoreInfo(self.backend, self.alias, current, points=points,
                         settings_hash=meta.get("settings_hash") or None,
                         created_at=meta.get("created_at"), updated_at=meta.get("updated_at"),
                         vectors=vector_config(meta.get("dim")), builds=builds)

    def close(self) -> None:
        with self._lock:
            for shard in self._shards.values():
                shard.flush()
                shard.close()
            self._shards.clear()


def _config(dim: int) -> qe.EdgeConfig:
    return qe.EdgeConfig(
        vectors={DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)},
        sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)})


def _request(plan: QueryPlan) -> qe.QueryRequest:
    dense = qe.Query.Nearest(plan.dense, using=DENSE) if plan.dense is not None else None
    sparse = qe.Query.Nearest(qe.SparseVector(plan.sparse.indices, plan.sparse.values),
                              using=SPARSE) if plan.sparse is not None else None
    if plan.mode == "dense":
        return qe.QueryRequest(limit=plan.limit, query=dense, with_payload=True)
    if plan.mode == "sparse":
        return qe.QueryRequest(limit=plan.limit, query=sparse, with_payload=True)
    fusion = qe.Fusion.Dbsf() if plan.fusion == "dbsf" else \
        qe.Fusion.Rrf(k=plan.rrf_k, weights=list(plan.weights))
    prefetches = [qe.Prefetch(limit=plan.prefetch_limit, query=dense),
                  qe.Prefetch(limit=plan.prefetch_limit, query=sparse)]
    return qe.QueryRequest(limit=plan.limit, prefetches=prefetches, query=fusion,
                           with_payload=True)
