# Visit-log and supervision ledgers and the visit-work ranking (ledgers.ftl).

## Visit-log ledger
ledger-visit_sheet = Visit logs
ledger-visit_title = Visit-log ledger · { $unit } · { $filters } · exported { $at }
ledger-visit_date = Visit date
ledger-worker = Grid worker
ledger-grid = Grid
ledger-compound = Compound
ledger-households_visited = Households visited
ledger-households = Households
ledger-observations = Observations
ledger-notes = Notes
ledger-requests = Requests collected
ledger-request_numbers = Request numbers
ledger-return_visits = Return visits
ledger-filed_at = Filed at
ledger-late = Late
ledger-updated_at = Last changed
ledger-revealed = personal data in clear

## Supervision ledger
ledger-supervision_sheet = Supervision
ledger-supervision_title = Supervision ledger · { $unit } · { $filters } · exported { $at }
ledger-number = Ticket number
ledger-title = Title
ledger-category = Category
ledger-urgency = Urgency
ledger-state = Ticket state
ledger-stage = Stage overdue
ledger-holder = Holding unit
ledger-due_at = Deadline
ledger-breached_at = Breached at
ledger-overdue_hours = Hours overdue
ledger-reminders = Reminders
ledger-status = Supervision
ledger-status_open = under supervision
ledger-status_resolved = ended
ledger-status_all = all
ledger-resolved_at = Ended at
ledger-resident_name = Resident
ledger-resident_phone = Phone

## Visit-work ranking (page)
ledger-nav = Visit work
ledger-page_title = Visit-work ranking
ledger-community = Community
ledger-log_compliance = Log compliance
ledger-logs_on_time = Logs on time
ledger-households_on_time = Households visited on time
ledger-totals = Total
ledger-workers = Grid workers' logs
ledger-workers_hint = Grid workers are listed with their logs, never ranked.
ledger-expected_days = Days expected
ledger-on_time_logs = On time
ledger-late_logs = Late
ledger-missing_logs = Missing
ledger-score_hint = The score is the mean of log compliance and households visited on time (a figure with nothing to count is left out); equal scores share a rank.
ledger-rule_hint = Households visited on time: of the households due a visit in the period, those visited by every due day (the interval by household kind; a household never visited counts from its registration).
ledger-empty = No compound below this unit.
ledger-no_workers = no grid worker
ledger-exports = Export ledgers
ledger-export_visit_logs = Visit-log ledger ({ $format })
ledger-export_supervision = Supervision ledger ({ $format })
