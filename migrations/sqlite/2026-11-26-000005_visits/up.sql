-- Visit logs (走访日志), the household register (户) and visit frequency.

-- A household: one address (building, unit, room). Its kind sets how often it must be visited.
CREATE TABLE households (
    id TEXT PRIMARY KEY NOT NULL,
    building_id TEXT NOT NULL REFERENCES org_units(id),
    unit_no TEXT NOT NULL,
    room TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('ordinary','elderly_alone','party_member_household','disabled','low_income')),
    -- the latest visit date of any log that lists this household (kept by the app)
    last_visited_on DATE,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (building_id, unit_no, room)
);

-- Residents registered before households existed: one household per address, its id that of the
-- address's first resident, its kind the one visited most often among them.
INSERT INTO households (id, building_id, unit_no, room, kind, last_visited_on, active, version, created_at, updated_at)
SELECT MIN(id), building_id, unit_no, room,
       CASE WHEN SUM(CASE WHEN kind = 'elderly_alone' THEN 1 ELSE 0 END) > 0 THEN 'elderly_alone'
            WHEN SUM(CASE WHEN kind = 'disabled' THEN 1 ELSE 0 END) > 0 THEN 'disabled'
            WHEN SUM(CASE WHEN kind = 'low_income' THEN 1 ELSE 0 END) > 0 THEN 'low_income'
            WHEN SUM(CASE WHEN kind = 'party_member_household' THEN 1 ELSE 0 END) > 0 THEN 'party_member_household'
            ELSE 'ordinary' END,
       NULL, TRUE, 1, MIN(created_at), MIN(created_at)
FROM residents GROUP BY building_id, unit_no, room;

-- (no REFERENCES on columns added to SQLite tables: SQLite could not drop them again on the way down)
ALTER TABLE residents ADD COLUMN household_id TEXT;
UPDATE residents SET household_id = (SELECT h.id FROM households h
    WHERE h.building_id = residents.building_id AND h.unit_no = residents.unit_no AND h.room = residents.room);
CREATE INDEX residents_household ON residents(household_id);

-- One log per grid worker, grid and day.
CREATE TABLE visit_logs (
    id TEXT PRIMARY KEY NOT NULL,
    -- the id the worker's device generated: a retried submission finds the first one
    client_id TEXT NOT NULL,
    author_id TEXT NOT NULL REFERENCES people(id),
    grid_id TEXT NOT NULL REFERENCES org_units(id),
    grid_path TEXT NOT NULL,
    compound_id TEXT NOT NULL REFERENCES org_units(id),
    visit_date DATE NOT NULL,
    households_visited INTEGER NOT NULL,
    observations TEXT NOT NULL,
    notes TEXT,
    -- hash of the first submission, to tell a retry from a different log with a reused client id
    submission_hash TEXT NOT NULL,
    -- filed after the day's deadline hour (or on a later day)
    late BOOLEAN NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (author_id, client_id),
    UNIQUE (author_id, grid_id, visit_date)
);
-- covering the board's per-day and per-range counts, so they never touch the rows
CREATE INDEX visit_logs_compound_date ON visit_logs(compound_id, visit_date, author_id, grid_id, late);
CREATE INDEX visit_logs_grid_date ON visit_logs(grid_path, visit_date);

CREATE TABLE visit_log_households (
    log_id TEXT NOT NULL REFERENCES visit_logs(id),
    household_id TEXT NOT NULL REFERENCES households(id),
    PRIMARY KEY (log_id, household_id)
);
CREATE INDEX visit_log_households_household ON visit_log_households(household_id);

-- Return visits (回访) recorded in a log; the ticket's own action is in its timeline.
CREATE TABLE visit_log_return_visits (
    id TEXT PRIMARY KEY NOT NULL,
    log_id TEXT NOT NULL REFERENCES visit_logs(id),
    ticket_id TEXT NOT NULL REFERENCES tickets(id),
    satisfaction TEXT NOT NULL,
    note TEXT,
    recorded_at TIMESTAMP NOT NULL
);
CREATE INDEX visit_log_return_visits_log ON visit_log_return_visits(log_id);

CREATE INDEX tickets_visit_log ON tickets(visit_log_id);
-- requests raised on visits, per compound and filing time: covers the board's closed-loop counts
CREATE INDEX tickets_visit_requests ON tickets(compound_id, created_at, id, state) WHERE visit_log_id IS NOT NULL;
CREATE INDEX tickets_compound_state ON tickets(compound_id, state, due_at);
-- a building's tickets in some states, newest first (a grid worker's filtered list)
CREATE INDEX tickets_place_state ON tickets(place_id, state, created_at);

-- Notifications for one person (a reminder to file the day's log), written once per dedupe key.
ALTER TABLE notifications ADD COLUMN person_id TEXT;
ALTER TABLE notifications ADD COLUMN dedupe_key TEXT;
CREATE UNIQUE INDEX notifications_dedupe ON notifications(dedupe_key);
