"""Benchmarks of wfsite against phidata, agno, LangGraph and raw sqlite3; `make bench` runs them (see README.md)."""
