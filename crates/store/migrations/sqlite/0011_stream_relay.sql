-- Streams from any instance: see the PostgreSQL migration of the same name. One SQLite
-- database has one instance, which streams what it executes, so the column is kept (the
-- store's SQL is the same on both backends) but nothing is relayed and no relay table is made.
ALTER TABLE runs ADD COLUMN streamer TEXT;
