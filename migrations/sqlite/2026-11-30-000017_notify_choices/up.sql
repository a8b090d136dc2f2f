-- Which events a unit's robot or webhook is told of (`*`: all; otherwise kinds separated by
-- commas), as a person chooses his kinds by mail.
ALTER TABLE channel_endpoints ADD COLUMN events TEXT NOT NULL DEFAULT '*';
-- A person may take the low-priority events by mail once a day (每日摘要) instead of one by one.
ALTER TABLE notification_settings ADD COLUMN digest BOOLEAN NOT NULL DEFAULT FALSE;
-- A delivery kept for the day's digest: due the next working morning, sent in one mail with the
-- person's other digest deliveries due then.
ALTER TABLE deliveries ADD COLUMN digest BOOLEAN NOT NULL DEFAULT FALSE;
