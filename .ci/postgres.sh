# Sourced by .ci/run: make sure a PostgreSQL server runs on 127.0.0.1 and export
# D400_TEST_PG_URL for a throw-away role and database. PostgreSQL refuses to run as root, so the
# cluster is started with Debian's pg_ctlcluster and set up as user postgres. When that fails,
# D400_TEST_PG_URL is left unset and the test session starts its own server from the pgserver
# wheel (tests/support/pg.py); under CI=true a PostgreSQL test fails if that fails too.
pg_ok() { PGPASSWORD=d400test psql -h 127.0.0.1 -U d400test -d d400test -c 'select 1' >/dev/null 2>&1; }
D400_TEST_PG_URL="postgresql://d400test:d400test@127.0.0.1:5432/d400test"
if ! pg_ok; then
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
      || echo "could not install PostgreSQL"
  fi
  ver=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
  if [ -n "$ver" ]; then
    if ! pg_lsclusters 2>/dev/null | grep -q "^$ver *main"; then pg_createcluster "$ver" main >/dev/null || true; fi
    pg_ctlcluster "$ver" main start 2>/dev/null || true
    for _ in $(seq 1 30); do su postgres -c "psql -tAc 'select 1'" >/dev/null 2>&1 && break; sleep 1; done
    su postgres -c "psql -v ON_ERROR_STOP=0 -qc \"CREATE ROLE d400test LOGIN CREATEDB PASSWORD 'd400test'\"" >/dev/null 2>&1 || true
    su postgres -c "psql -v ON_ERROR_STOP=0 -qc \"CREATE DATABASE d400test OWNER d400test\"" >/dev/null 2>&1 || true
  fi
fi
if pg_ok; then echo "PostgreSQL ready: tests run on SQLite and PostgreSQL"; else
  unset D400_TEST_PG_URL
  echo "Debian's PostgreSQL unavailable: the test session starts a throw-away one (pgserver)"; fi
