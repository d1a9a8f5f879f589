#!/bin/sh
# Container entrypoint: with INIT_DB_ON_START true, bring the schema to the newest migration
# first (init-db waits up to 60 s for a database that is still starting), then become CMD.
# init-db reads INIT_DB_ON_START itself, as the service reads every boolean (1/0, yes/no, ...).
set -eu
# A command, not the server: its metrics would only add files to the server's directory.
env -u PROMETHEUS_MULTIPROC_DIR flask --app messaging init-db --on-start
exec "$@"
