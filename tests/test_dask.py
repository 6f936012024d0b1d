"""Batch clustering on a Dask cluster gives the single-machine clusters."""
from __future__ import annotations

import pytest

from dedup.batch import cluster
from tests.conftest import syndicated_corpus

distributed = pytest.importorskip("dask.distributed")


@pytest.mark.slow
def test_local_dask_cluster_gives_the_same_clusters(seed_articles, topic_articles):
    articles, _ = syndicated_corpus(list(seed_articles.values()) + list(topic_articles.values()))
    single = cluster(articles, workers=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
        with distributed.Client(lc) as client:
            assert len(client.scheduler_info()["workers"]) == 2
            on_dask = cluster(articles, executor=client.get_executor())
    assert on_dask.ids == single.ids
    for article_id in single.ids:
        a, b = single.engine.get(article_id), on_dask.engine.get(article_id)
        assert (a.cluster, a.story, a.relation) == (b.cluster, b.story, b.relation)
