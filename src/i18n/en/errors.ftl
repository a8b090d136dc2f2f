# Error messages (en): one entry per error code (error-<code>), the reasons used inside them
# (rule-*, why-*), holiday-schedule problems (schedule-*), and the names of objects (entity-*).

## Error codes
error-not_found = { $what } not found
error-forbidden = You may not do this: { $detail }
error-unauthenticated = Log in first: the token or session is missing, expired or revoked
error-login_failed = Login failed: wrong login or password, or the account is not available now
error-too_many_attempts = Too many failed logins: try again in { $wait }; if you forgot the password, ask an administrator to reset it
wait-seconds = { $n ->
    [one] { $n } second
   *[other] { $n } seconds
}
wait-minutes = { $n ->
    [one] { $n } minute
   *[other] { $n } minutes
}
error-csrf_rejected = Missing or wrong X-CSRF-Token header, required for changes made with the session cookie
error-bad_request = Malformed request: { $detail }
error-payload_too_large = The body is too large: at most { $limit } bytes
error-validation_failed = Invalid { $field }: { $detail }
error-unknown_reference = Unknown { $field }: { $detail }
error-illegal_action = “{ $action }” is not allowed while the ticket is “{ $state }”; { $allowed ->
    [0] there is nothing you may do now
   *[other] you may now: { $list }
}
error-log_exists = The log of { $date } for this grid was already filed ({ $log }); amend it instead of filing another
error-log_locked = The log of { $date } was locked when its day ended; it can no longer be changed
error-import_rejected = Nothing was imported: { $rows } rows are wrong; fix them and import the whole file again (see errors)
error-idempotency_key_reused = This Idempotency-Key was already used for a different request; use a new key for a new request
error-precondition_required = Changes need an If-Match header carrying the object's current version (see its ETag)
error-version_conflict = Someone else changed this first: you sent version { $given }, the current version is { $current }; reload and try again
error-calendar_missing = The working calendar { $calendar } cannot compute deadlines in { $year } (1902–2100 only)
error-schedule_invalid = The { $year } schedule was not stored: { $count } problems; correct them and send it again (see problems)
error-service_unavailable = The database is unavailable; try again shortly
error-internal_error = Internal error; it has been logged, try again shortly

## Objects
entity-org_unit = Org unit
entity-person = Person
entity-membership = Membership
entity-category = Category
entity-resident = Resident
entity-route = Route
entity-ticket = Ticket
entity-extension = Extension request
entity-department = Department
entity-visit_log = Visit log
entity-household = Household
entity-compound = Compound
entity-calendar = Working calendar
entity-calendar_year = Calendar year
entity-property_company = Property company
entity-meeting = Meeting
entity-consult_item = Consultation item
entity-object = Object

## Holiday schedules
schedule-outside_year = { $date } is not in { $year }
schedule-listed_twice = { $date } is listed twice
schedule-holiday_and_workday = { $date } is listed both as a holiday and as a make-up working day
schedule-workday_not_weekend = { $date } is not a Saturday or Sunday, so it cannot be a make-up working day
schedule-lone_weekend_holiday = { $date } is a weekend day outside any holiday span: it is off anyway, so it is probably a wrong date
schedule-no_holidays = no holidays are listed
schedule-year_out_of_range = the year { $year } is out of range: it must lie between 1902 and 2100
schedule-not_a_date = "{ $date }" is not a date written YYYY-MM-DD

## Calendar warnings
calendar-year_provisional = The working calendar { $calendar } has no published { $year } schedule: deadlines in that year use the standing rule (weekdays less the statutory holidays) and are marked provisional; an admin should publish the State Council's schedule, and they will be recomputed.

## Conflicts and refusals of the moment
why-already_exists = a record with the same unique value already exists
why-illegal_part_state = “{ $action }” does not apply to your department's part as it stands
why-return_overruled = the community overruled this department's return; it must take the case
why-extension_pending = an extension request of this department is already waiting
why-lead_closes_by_solving = the lead department closes the case with “mark solved”
why-lead_not_acknowledged = the lead department must acknowledge the case before solving it
why-co_departments_open = a co-department has not completed its part: it must complete it, or the community must release it
why-nothing_to_rule = nothing on this ticket waits for “{ $action }”
why-no_co_department = no co-department's part can be taken off or released
why-nothing_to_pause = no running resolution clock to pause (already paused?)
why-not_paused = no clock of this ticket waits for the resident

## Requests that could not be read
bad-unknown_field = unknown field “{ $field }”
bad-missing_field = missing required field “{ $field }”
bad-unknown_value = unknown value “{ $value }”
bad-wrong_type = a field of the { $whole } has a value of the wrong type
bad-unreadable = the { $whole } could not be read
bad-json_syntax = malformed JSON (line { $line }, column { $column })
bad-content_type = the body must be JSON (Content-Type: application/json)
bad-path = a parameter in the address is malformed
bad-whole_body = body
bad-whole_query = query string
error-nul_character = { $field } contains a NUL character (U+0000), which cannot be stored; remove it and send again
error-nul_character_line = The file contains a NUL character (U+0000) on line { $line }, which cannot be stored; remove it and import the file again
error-method_not_allowed = { $method } is not allowed on this path; allowed: { $allowed }
error-contention = The database broke this change off to resolve a conflict with another one, and retrying did not help; try again shortly
error-client_refused = The outside system's key, signature or timestamp is missing or not valid (the timestamp must be within five minutes), or the system is switched off
