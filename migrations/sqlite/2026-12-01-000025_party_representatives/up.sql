-- The parties' representatives (业委会代表, 物业代表) of the three-party consultation (#19) are
-- roles bound to a compound. SQLite cannot alter a CHECK: the table is rebuilt (nothing refers
-- to it).
CREATE TABLE memberships_next (
    id TEXT PRIMARY KEY NOT NULL,
    person_id TEXT NOT NULL REFERENCES people(id),
    org_unit_id TEXT NOT NULL REFERENCES org_units(id),
    role TEXT NOT NULL CHECK (role IN ('grid_worker','branch_secretary','community_staff','department_liaison','supervisor','admin','committee_representative','company_representative')),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO memberships_next (id, person_id, org_unit_id, role, active, created_at, updated_at)
    SELECT id, person_id, org_unit_id, role, active, created_at, updated_at FROM memberships;
DROP TABLE memberships;
ALTER TABLE memberships_next RENAME TO memberships;
CREATE UNIQUE INDEX memberships_person_unit_role ON memberships(person_id, org_unit_id, role);
CREATE INDEX memberships_unit ON memberships(org_unit_id);
