#!/usr/bin/env bash
# Runs once, when the postgres container starts on an empty data directory (it is mounted into
# /docker-entrypoint-initdb.d). Each service gets its own role and its own database, which only
# that role may use: services never read each other's tables.
set -euo pipefail

for service in membership procurement catalogue outreach usage dashboard; do
    var="KONSORTIO_DB_PASSWORD_${service^^}"
    password=${!var:?$var must be set (deploy/.env)}
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        -v role="$service" -v password="$password" -v db="konsortio_$service" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"role";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL
done
