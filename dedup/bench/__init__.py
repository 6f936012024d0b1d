"""`dedup-bench`: load-test a running dedup server (see `dedup.bench.cli`)."""
