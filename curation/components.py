"""Connected components of a graph of document edges, on Spark: what turns duplicate pairs into clusters.

A graph of verified duplicate pairs is mostly small components, and once it fits in memory one numpy union-find
on the driver (`driver_components`) finishes it in one collect, where each round of a distributed algorithm is
several Spark jobs. So `connected_components` shrinks a large graph with large-star/small-star rounds (Kiveris
et al. 2014) only until at most `driver_edges` edges are left. A component is named by its smallest node, so
the result does not depend on the partitioning.
"""

from __future__ import annotations

import numpy as np


def driver_components(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(nodes, component of each) of the graph of edges src-dst: a union-find by hooking roots onto smaller
    roots and pointer jumping, O(log n) numpy passes; a component is named by its smallest node."""
    nodes, index = np.unique(np.concatenate([src, dst]), return_inverse=True)
    left, right = index[: len(src)], index[len(src) :]
    parent = np.arange(len(nodes))
    while True:
        a, b = parent[left], parent[right]
        differ = a != b
        if not differ.any():
            return nodes, nodes[parent]
        np.minimum.at(parent, np.maximum(a, b)[differ], np.minimum(a, b)[differ])
        while not np.array_equal(grand := parent[parent], parent):
            parent = grand


def connected_components(edges, driver_edges: int, max_rounds: int = 60):
    """(node, component) for every node of `edges` (src, dst longs); a component is named by its smallest
    node, whatever the partitioning. Large-star/small-star rounds (Kiveris et al. 2014) shrink the graph
    until at most `driver_edges` edges are left, which `driver_components` finishes on the driver."""
    from pyspark.sql import functions as F

    spark = edges.sparkSession
    current = edges.select(F.greatest("src", "dst").alias("child"), F.least("src", "dst").alias("parent")).filter(
        "child != parent"
    )
    for _ in range(max_rounds):
        pairs = current.limit(driver_edges + 1).toPandas()  # one job when they fit, not a count and a collect
        if len(pairs) <= driver_edges:
            if len(pairs) == 0:
                return spark.createDataFrame([], "node long, component long")
            import pandas as pd

            nodes, components = driver_components(pairs["child"].to_numpy(), pairs["parent"].to_numpy())
            frame = pd.DataFrame({"node": nodes.astype(np.int64), "component": components.astype(np.int64)})
            return spark.createDataFrame(frame, "node long, component long")
        current = _small_star(_large_star(current.distinct())).localCheckpoint()
        roles = current.select(
            F.col("child").alias("node"), F.lit(1).alias("as_child"), F.lit(0).alias("as_parent")
        ).union(current.select(F.col("parent").alias("node"), F.lit(0), F.lit(1)))
        not_star = (
            roles.groupBy("node")
            .agg(F.sum("as_child").alias("parents"), F.max("as_parent").alias("parent"))
            .filter("parents > 1 OR (parents = 1 AND parent = 1)")
        )
        if not_star.isEmpty():  # a forest of stars: every child has one parent, and it is a root
            roots = current.select(F.col("parent").alias("node"), F.col("parent").alias("component")).distinct()
            return current.select(F.col("child").alias("node"), F.col("parent").alias("component")).unionByName(roots)
    raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")


def _large_star(edges):
    """Every node links its larger neighbours to the smallest node of its closed neighbourhood."""
    from pyspark.sql import functions as F

    both = edges.select(F.col("child").alias("u"), F.col("parent").alias("v")).unionByName(
        edges.select(F.col("parent").alias("u"), F.col("child").alias("v"))
    )
    smallest = both.groupBy("u").agg(F.min("v").alias("v_min")).select("u", F.least("u", "v_min").alias("m"))
    return (
        both.filter("v > u")
        .join(smallest, "u")
        .select(F.col("v").alias("child"), F.col("m").alias("parent"))
        .distinct()
    )


def _small_star(edges):
    """Every node links itself and its smaller neighbours to the smallest of them."""
    from pyspark.sql import functions as F

    smallest = edges.groupBy("child").agg(F.min("parent").alias("m"))
    moved = (
        edges.join(smallest, "child")
        .select(F.col("parent").alias("child"), F.col("m").alias("parent"))
        .filter("child != parent")
    )
    return moved.unionByName(smallest.select("child", F.col("m").alias("parent"))).distinct()
