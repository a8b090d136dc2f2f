DROP TABLE residents;
DROP TABLE categories;
DROP TABLE memberships;
DROP TABLE people;
DROP TABLE org_units;
