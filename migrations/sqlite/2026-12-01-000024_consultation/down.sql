DROP TABLE evaluations;
DROP TABLE consult_notes;
DROP TABLE consult_item_tickets;
DROP TABLE consult_items;
DROP TABLE consult_meetings;
DROP TABLE compound_parties;
DROP TABLE property_companies;
