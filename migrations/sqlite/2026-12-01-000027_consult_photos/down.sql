DROP TABLE consult_photos;
