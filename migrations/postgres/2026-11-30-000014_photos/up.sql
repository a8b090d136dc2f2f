-- Photos (照片) of a request and of its solved report (办结): the files live in the photo store
-- (photos.dir) by the SHA-256 of their cleaned bytes; a row ties one to a ticket. The same bytes
-- on the same ticket and kind are one photo (a retried upload adds nothing).
CREATE TABLE photos (
    id TEXT PRIMARY KEY,
    ticket_id TEXT NOT NULL REFERENCES tickets(id),
    kind TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    thumb_sha256 TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    bytes BIGINT NOT NULL,
    uploaded_by TEXT NOT NULL REFERENCES people(id),
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX photos_once ON photos (ticket_id, kind, sha256);
