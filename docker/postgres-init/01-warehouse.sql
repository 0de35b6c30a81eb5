-- One Postgres server, two databases: `dagster` (run storage, created by POSTGRES_DB) and
-- `warehouse` (raw ... reporting schemas, the one BI tools read).
CREATE DATABASE warehouse;
