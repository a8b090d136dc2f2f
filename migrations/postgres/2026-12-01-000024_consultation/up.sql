-- Three-party consultation (三方协调议事, issue #19): a compound's owners' committee (业主委员会)
-- and property company (物业服务企业), the agenda items (议事清单) that meetings decide into actions
-- (行动清单) with a responsible party and a deadline, and what was done (业绩清单).

-- A property company may serve several compounds; the unified social credit code names it once.
CREATE TABLE property_companies (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    credit_code TEXT NOT NULL,
    manager_name TEXT NOT NULL,
    manager_phone TEXT,
    created_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL
);
CREATE UNIQUE INDEX property_companies_code ON property_companies (credit_code);

-- One row per compound: its owners' committee and the company that serves it now.
CREATE TABLE compound_parties (
    compound_id TEXT PRIMARY KEY REFERENCES org_units(id),
    committee_name TEXT NOT NULL,
    committee_chair TEXT NOT NULL,
    committee_members TEXT NOT NULL,
    committee_phone TEXT,
    term_start DATE,
    term_end DATE,
    company_id TEXT REFERENCES property_companies(id),
    contract_start DATE,
    contract_end DATE,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX compound_parties_company ON compound_parties (company_id);

-- A meeting (议事会) of the three parties; attendees as JSON {party: [names]}. Signed off by the
-- secretary; a change after that is an audit event.
CREATE TABLE consult_meetings (
    id TEXT PRIMARY KEY,
    compound_id TEXT NOT NULL REFERENCES org_units(id),
    held_on DATE NOT NULL,
    place TEXT NOT NULL,
    attendees TEXT NOT NULL,
    minutes TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES people(id),
    created_at TIMESTAMP NOT NULL,
    signed_by TEXT REFERENCES people(id),
    signed_at TIMESTAMP,
    version BIGINT NOT NULL
);
CREATE INDEX consult_meetings_compound ON consult_meetings (compound_id, held_on);

-- An item: on the agenda, then (decided at a meeting) an action due at the end of a China day,
-- then done or dropped (closed_at, outcome).
CREATE TABLE consult_items (
    id TEXT PRIMARY KEY,
    compound_id TEXT NOT NULL REFERENCES org_units(id),
    title TEXT NOT NULL,
    detail TEXT NOT NULL,
    category_id TEXT REFERENCES categories(id),
    state TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES people(id),
    created_at TIMESTAMP NOT NULL,
    meeting_id TEXT REFERENCES consult_meetings(id),
    decision TEXT,
    responsible TEXT,
    due_on DATE,
    due_at TIMESTAMP,
    closed_at TIMESTAMP,
    outcome TEXT,
    version BIGINT NOT NULL
);
CREATE INDEX consult_items_compound ON consult_items (compound_id, created_at);
CREATE INDEX consult_items_meeting ON consult_items (meeting_id);

-- Tickets raised to an item (a ticket once per item).
CREATE TABLE consult_item_tickets (
    item_id TEXT NOT NULL REFERENCES consult_items(id),
    ticket_id TEXT NOT NULL REFERENCES tickets(id),
    attached_by TEXT NOT NULL REFERENCES people(id),
    attached_at TIMESTAMP NOT NULL,
    PRIMARY KEY (item_id, ticket_id)
);
CREATE INDEX consult_item_tickets_ticket ON consult_item_tickets (ticket_id);

-- Progress notes (进展) on an item.
CREATE TABLE consult_notes (
    id TEXT PRIMARY KEY,
    item_id TEXT NOT NULL REFERENCES consult_items(id),
    body TEXT NOT NULL,
    author_id TEXT NOT NULL REFERENCES people(id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX consult_notes_item ON consult_notes (item_id, created_at);

-- The two evaluations (两评价): once a year per compound and party, the branch's scores per
-- criterion (JSON, with the criteria as configured then), the residents' representatives' score,
-- the total and its verdict, and the evidence as it stood (JSON).
CREATE TABLE evaluations (
    id TEXT PRIMARY KEY,
    compound_id TEXT NOT NULL REFERENCES org_units(id),
    party TEXT NOT NULL,
    year INTEGER NOT NULL,
    subject_name TEXT NOT NULL,
    company_id TEXT REFERENCES property_companies(id),
    scores TEXT NOT NULL,
    resident_score DOUBLE PRECISION,
    resident_weight DOUBLE PRECISION NOT NULL,
    total DOUBLE PRECISION NOT NULL,
    verdict TEXT NOT NULL,
    comment TEXT NOT NULL,
    evidence TEXT NOT NULL,
    evaluated_by TEXT NOT NULL REFERENCES people(id),
    evaluated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL
);
CREATE UNIQUE INDEX evaluations_once ON evaluations (compound_id, party, year);
CREATE INDEX evaluations_company ON evaluations (company_id, year);
