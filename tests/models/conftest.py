"""One real model build per test session, into a fresh cache directory (as CI starts empty)."""

from __future__ import annotations

import pytest

from perception.models import ModelStore
from perception.models.build import Options


@pytest.fixture(scope="session")
def built_store(tmp_path_factory) -> ModelStore:
    store = ModelStore(tmp_path_factory.mktemp("cuekit_cache"))
    result = store.build(Options(cache_dir=store.cache_dir))
    assert result.built, "a fresh cache must build every model"
    return store
