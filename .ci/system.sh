# Sourced by .ci/run: the Debian packages the tests use (PostgreSQL for the store, Chromium for the rules
# site) and a throw-away PostgreSQL server on loopback, whose URL the tests read from
# ELIGIBILITY_TEST_POSTGRES_URL. Needs root (or sudo); elsewhere it says what it skipped and the tests that
# need these skip with that reason.
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

packages=(postgresql chromium fonts-noto-cjk)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "ci: installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
    && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || echo "ci: could not install ${missing[*]} (no root?): the tests that need them will skip"
fi

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -n "$pgbin" ] && id postgres >/dev/null 2>&1; then
  pgdata=$(mktemp -d "${TMPDIR:-/tmp}/eligibility-pg.XXXXXX")
  as_root chown postgres "$pgdata"
  pgport=${ELIGIBILITY_PG_PORT:-54329}
  as_root runuser -u postgres -- "$pgbin/initdb" -D "$pgdata" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
  as_root runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w \
    -o "-p $pgport -k $pgdata -c listen_addresses=127.0.0.1" start >/dev/null
  as_root runuser -u postgres -- "$pgbin/createdb" -h 127.0.0.1 -p "$pgport" -U postgres eligibility_test
  export ELIGIBILITY_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$pgport/eligibility_test"
  trap 'as_root runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -m fast stop >/dev/null || true' EXIT
  echo "ci: PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') on 127.0.0.1:$pgport"
else
  echo "ci: no PostgreSQL server binaries: the PostgreSQL store tests will skip"
fi
