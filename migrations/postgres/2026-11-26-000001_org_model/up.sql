-- The organisation model: org tree, people, role memberships, the task catalogue, residents.
CREATE TABLE org_units (
    id TEXT PRIMARY KEY NOT NULL,
    parent_id TEXT REFERENCES org_units(id),
    kind TEXT NOT NULL CHECK (kind IN ('city','district','street','community','compound','building','department')),
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    -- materialised path '/root/…/self/': a subtree is one range scan on this index
    path TEXT COLLATE "C" NOT NULL UNIQUE,
    depth INTEGER NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX org_units_parent ON org_units(parent_id);

CREATE TABLE people (
    id TEXT PRIMARY KEY NOT NULL,
    login TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    phone TEXT UNIQUE,
    password_hash TEXT NOT NULL,
    locale TEXT NOT NULL DEFAULT 'zh-CN',
    active BOOLEAN NOT NULL DEFAULT TRUE,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMP,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE memberships (
    id TEXT PRIMARY KEY NOT NULL,
    person_id TEXT NOT NULL REFERENCES people(id),
    org_unit_id TEXT NOT NULL REFERENCES org_units(id),
    role TEXT NOT NULL CHECK (role IN ('grid_worker','branch_secretary','community_staff','department_liaison','supervisor','admin')),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX memberships_person_unit_role ON memberships(person_id, org_unit_id, role);
CREATE INDEX memberships_unit ON memberships(org_unit_id);

CREATE TABLE categories (
    id TEXT PRIMARY KEY NOT NULL,
    code TEXT NOT NULL UNIQUE,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    default_department_id TEXT REFERENCES org_units(id),
    -- comma-separated subset of normal,urgent
    urgencies TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE residents (
    id TEXT PRIMARY KEY NOT NULL,
    building_id TEXT NOT NULL REFERENCES org_units(id),
    name TEXT NOT NULL,
    phone TEXT,
    id_number TEXT,
    unit_no TEXT NOT NULL,
    room TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('ordinary','elderly_alone','party_member_household','disabled','low_income')),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX residents_building ON residents(building_id);
