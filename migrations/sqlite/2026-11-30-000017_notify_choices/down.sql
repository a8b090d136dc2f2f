ALTER TABLE deliveries DROP COLUMN digest;
ALTER TABLE notification_settings DROP COLUMN digest;
ALTER TABLE channel_endpoints DROP COLUMN events;
