-- migrate:up
-- Row keys in time order (PostgreSQL 18's uuidv7()): each new key lands at the right edge of
-- pk_ingestion_rows instead of a random leaf page, ~8 % less per row copied (bench/README.md,
-- bench/upload.py). Existing keys stay as they are; only the default changes.
ALTER TABLE ingestion_rows ALTER COLUMN id SET DEFAULT uuidv7();

-- migrate:down
ALTER TABLE ingestion_rows ALTER COLUMN id SET DEFAULT gen_random_uuid();
