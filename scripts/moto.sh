#!/usr/bin/env bash
# Installs the pinned moto server into a virtualenv outside the clone and, with `start`,
# runs it on loopback. Used by the quick start and by the test suite.
#
#   scripts/moto.sh install        # create/refresh the virtualenv
#   scripts/moto.sh start [PORT]   # install if needed, then run moto in the foreground
set -euo pipefail

MOTO_VERSION="5.2.5"
VENV="${PLUMB_MOTO_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/plumb/moto-venv}"

install() {
  if [ -x "$VENV/bin/moto_server" ] && "$VENV/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    return 0
  fi
  echo "installing moto[server]==$MOTO_VERSION into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
}

case "${1:-install}" in
  install) install ;;
  start)
    install
    # moto keeps a deployment IN_PROGRESS until as many tasks run as desired and runs none
    # itself; this many makes every rollout COMPLETED, as AWS reports a settled deployment.
    MOTO_ECS_SERVICE_RUNNING="${MOTO_ECS_SERVICE_RUNNING:-100000}" exec "$VENV/bin/moto_server" -H 127.0.0.1 -p "${2:-5000}"
    ;;
  path) echo "$VENV/bin/moto_server" ;;
  *) echo "usage: $0 install|start [PORT]|path" >&2; exit 2 ;;
esac
