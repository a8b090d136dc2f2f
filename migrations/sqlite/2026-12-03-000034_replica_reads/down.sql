DROP TABLE person_writes;
