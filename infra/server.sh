#!/bin/sh
# Manage the local Temporal dev server: infra/server.sh start|stop|status [options] (see infra/server.ts).
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../node_modules/.bin/tsx" "$here/server.ts" "$@"
