-- Working calendars live in the database (工作日历): one row per calendar with its time zone and
-- office hours, one row per stored year with its holidays (放假) and make-up working days (调休上班)
-- and whether the State Council's notice is in (published) or not (provisional). Years without a
-- row follow the standing rule, computed in code. The shipped TOML files are imported at start.
CREATE TABLE work_calendars (
    name TEXT PRIMARY KEY NOT NULL,
    time_zone TEXT NOT NULL,
    -- JSON: [["08:30","12:00"],["14:00","17:30"]]
    office_hours TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE calendar_years (
    calendar TEXT NOT NULL REFERENCES work_calendars(name),
    year INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('published', 'provisional')),
    -- JSON arrays of YYYY-MM-DD dates
    holidays TEXT NOT NULL,
    workdays TEXT NOT NULL,
    -- where the schedule comes from, e.g. the notice's number
    source TEXT,
    version BIGINT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    -- the person who stored it; NULL for the system (shipped files, the command line)
    updated_by TEXT,
    PRIMARY KEY (calendar, year)
);

-- Bumped by every calendar change, so that each server notices and reloads.
CREATE TABLE calendar_revision (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    revision BIGINT NOT NULL
);
INSERT INTO calendar_revision (id, revision) VALUES (1, 0);

-- A deadline computed across a provisional year is flagged, and recomputed when it is published.
ALTER TABLE sla_clocks ADD COLUMN provisional BOOLEAN NOT NULL DEFAULT FALSE;
-- Running clocks by calendar and deadline: the clocks a published year touches.
CREATE INDEX sla_clocks_open ON sla_clocks(calendar, due_at) WHERE stopped_at IS NULL;
