#!/usr/bin/env bash
# System services the tests talk to: PostgreSQL on 127.0.0.1:5432 (started if stopped,
# installed with apt-get if absent), Debian's docker-compose (to validate
# docker-compose.yml; the Docker engine itself is not needed), and Debian's Prometheus
# (prometheus and promtool: the metrics scrape test, the alert rules' tests) and Alertmanager
# (amtool checks its config). Each tool is installed only when missing.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
apt_install() {
  [ -n "${PERPFLOW_APT_UPDATED:-}" ] || { as_root apt-get update -qq; export PERPFLOW_APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

ensure_postgres() {
  pg_ready && return 0
  if ! command -v pg_ctlcluster >/dev/null; then
    echo "system: installing PostgreSQL" >&2
    apt_install postgresql || { echo "system: cannot install PostgreSQL (need root)" >&2; return 1; }
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "system: starting PostgreSQL $version" >&2
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 50); do pg_ready && break; sleep 0.2; done
  pg_ready || { echo "system: PostgreSQL did not come up on 127.0.0.1:5432" >&2; return 1; }
  # Trust auth for local TCP is the machine's convention; make sure the test database exists.
  psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE test" >/dev/null
}

ensure_compose() {
  command -v docker-compose >/dev/null && return 0
  echo "system: installing docker-compose (to validate docker-compose.yml)" >&2
  apt_install docker-compose || echo "system: docker-compose unavailable; its check will be skipped" >&2
}

ensure_prometheus() {
  command -v prometheus >/dev/null && command -v promtool >/dev/null && command -v amtool >/dev/null && return 0
  echo "system: installing Prometheus, promtool and Alertmanager (metrics and alert-rule tests)" >&2
  # Without the recommended exporters; the tests start their own server on free ports.
  apt_install --no-install-recommends prometheus prometheus-alertmanager \
    || { echo "system: cannot install prometheus / prometheus-alertmanager (need root)" >&2; return 1; }
}

ensure_openssl() {
  command -v openssl >/dev/null && return 0
  echo "system: installing openssl (the alert e-mail tests make a certificate for STARTTLS)" >&2
  apt_install openssl || { echo "system: cannot install openssl (need root)" >&2; return 1; }
}

ensure_postgres
ensure_compose
ensure_prometheus
ensure_openssl
