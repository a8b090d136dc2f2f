ALTER TABLE org_units DROP COLUMN longitude;
ALTER TABLE org_units DROP COLUMN latitude;
ALTER TABLE deliveries DROP COLUMN address;
ALTER TABLE deliveries DROP COLUMN client_id;
DROP TABLE resident_links;
DROP TABLE external_orders;
DROP TABLE external_categories;
DROP TABLE external_clients;
