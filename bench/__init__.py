"""Benchmark of online_migrations against a blocking ALTER and pt-online-schema-change."""
