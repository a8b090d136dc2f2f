-- The filing form lists a worker's most used categories first (app::catalogue::categories_for_filer).
CREATE INDEX tickets_by_filer ON tickets (filed_by, created_at);
