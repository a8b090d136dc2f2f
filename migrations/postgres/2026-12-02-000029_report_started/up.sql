-- A running clock's volume fact (受理量: is it its ticket's first judged clock in a subtree?) is
-- final at its start: the roll-up takes it then and lists the clock here, so that a ranking does
-- not decide it again for every running clock (decision 0027). When the clock stops and is
-- rolled up, its line here is taken away and its volume not added twice.
CREATE TABLE report_started (
    clock_id TEXT PRIMARY KEY NOT NULL
);
