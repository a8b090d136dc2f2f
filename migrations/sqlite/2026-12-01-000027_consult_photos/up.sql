-- Photos as evidence of a consultation's action (行动清单, #19): what was done, shown with the
-- item to those who follow the compound's consultation. The files are the photo store's (as a
-- ticket's photos); a photo once per item.
CREATE TABLE consult_photos (
    id TEXT PRIMARY KEY,
    item_id TEXT NOT NULL REFERENCES consult_items(id),
    sha256 TEXT NOT NULL,
    thumb_sha256 TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    bytes BIGINT NOT NULL,
    uploaded_by TEXT NOT NULL REFERENCES people(id),
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX consult_photos_once ON consult_photos (item_id, sha256);
