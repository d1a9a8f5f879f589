"""The load benchmark behind ``make bench``: seeds MariaDB, starts the service and a floor app
next to it, drives both with wrk and prints what it measured (see BENCHMARKS.md)."""
