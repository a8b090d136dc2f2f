DROP TABLE notification_settings;
DROP TABLE channel_endpoints;
DROP TABLE deliveries;
