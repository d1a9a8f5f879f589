#!/bin/sh
# Container entrypoint: with INIT_DB_ON_START=true, bring the schema to the newest migration
# first (init-db waits up to 60 s for a database that is still starting), then become CMD.
set -eu
if [ "${INIT_DB_ON_START:-false}" = "true" ]; then
    # A command, not the server: its metrics would only add files to the server's directory.
    env -u PROMETHEUS_MULTIPROC_DIR flask --app messaging init-db
fi
exec "$@"
