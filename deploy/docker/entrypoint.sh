#!/bin/sh
# The image's entry point: the first argument picks the program. `exec`, so that the program receives the
# container's SIGTERM itself (both finish their work in hand on it).
set -eu
case "${1:-coordinator}" in
  coordinator)
    [ "$#" -gt 0 ] && shift
    exec node /app/apps/coordinator/dist/main.js "$@"
    ;;
  migrate)
    # Applies prisma/migrations to DATABASE_URL and exits (what MIGRATE_ON_START does at boot).
    exec node /app/apps/coordinator/dist/main.js migrate
    ;;
  agent)
    shift
    exec node /app/apps/client-agent/dist/cli.js "$@"
    ;;
  flotilla)
    # The command line for people (jobs, agents, datasets, data split); FLOTILLA_URL and FLOTILLA_API_KEY.
    shift
    exec node /app/apps/cli/bin/flotilla.js "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
