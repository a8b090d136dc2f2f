CREATE TABLE memberships_prev (
    id TEXT PRIMARY KEY NOT NULL,
    person_id TEXT NOT NULL REFERENCES people(id),
    org_unit_id TEXT NOT NULL REFERENCES org_units(id),
    role TEXT NOT NULL CHECK (role IN ('grid_worker','branch_secretary','community_staff','department_liaison','supervisor','admin')),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO memberships_prev (id, person_id, org_unit_id, role, active, created_at, updated_at)
    SELECT id, person_id, org_unit_id, role, active, created_at, updated_at FROM memberships
    WHERE role NOT IN ('committee_representative', 'company_representative');
DROP TABLE memberships;
ALTER TABLE memberships_prev RENAME TO memberships;
CREATE UNIQUE INDEX memberships_person_unit_role ON memberships(person_id, org_unit_id, role);
CREATE INDEX memberships_unit ON memberships(org_unit_id);
