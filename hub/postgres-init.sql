-- Run once by the postgres image on an empty data volume (docker-compose.yml):
-- JupyterHub uses the database "jupyterhub" (POSTGRES_DB), nbgrader's gradebook gets its own,
-- because both keep an `alembic_version` table.
CREATE DATABASE gradebook OWNER gradehub;
