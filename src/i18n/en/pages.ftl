# The pages' words. Keys: <page>-<thing>.
app-name = Gridloop
nav-label = Main navigation
nav-day = Today's visits
nav-mine = My requests
nav-board = Board
nav-inbox = To do
nav-search = Search
nav-role = Current role
nav-switch = Switch
nav-logout = Log out
nav-other_language = 中文

login-title = Log in
login-login = Login name or mobile number
login-login_hint = e.g. gw.wang or 13800000000
login-password = Password
login-submit = Log in

error-title = Something went wrong
error-back = Back to the start

page-form_expected = Please send this with the form on the page
page-form_too_big = The form is too large; please send it in parts
page-nul = The input contains a NUL character (U+0000), which cannot be stored; remove it and send again
page-too_many_files = At most { $max } photos at a time; please send them in parts
page-bad_form = The form is incomplete or wrong: { $detail }
page-bad_datetime = Enter a valid date and time
page-board_compound_only = The board is per compound, and your current role has none

time-minutes = { $n } min
time-hours = { $n } h
time-days = { $n } d
time-due_in = due in { $span }
time-overdue_by = { $span } overdue

urgency-normal = Normal
urgency-urgent = Urgent

field-note = Note (optional)
field-note_required = Note
field-reason = Reason
field-reason_optional = Reason (optional)
field-reason_code = Why it is returned
field-duplicate_of = Duplicate of
field-lead_department = Lead department
field-co_departments = Supporting departments
field-whistle_type = Kind of whistle
field-department = Department
field-department_own = For which department
field-new_department = Reassign to (optional)
field-proposed_due_at = New deadline
field-resolution = What was done
field-decision = Decision
field-extension = Extension request
field-satisfaction = The resident's verdict
field-category = Category
field-building = Building
field-title = Title
field-description = The request
field-urgency = Urgency
field-resident = Resident
field-anonymous = Anonymous (no resident details)
field-resident_name = Resident's name
field-resident_phone = Phone
field-photos = Photos
field-resident_hint = Choose from the residents register, or type a new resident

ruling-return-accept = Accept the return
ruling-return-overrule = Overrule: the department keeps it
ruling-extension-grant = Grant the extension
ruling-extension-refuse = Refuse the extension

ticket-title = Request
ticket-overdue = Overdue
ticket-place = Place
ticket-resident = Resident
ticket-anonymous = Anonymous
ticket-reveal = Show the full number
ticket-reveal_recorded = (this look is recorded)
ticket-filed_at = Filed
ticket-due = Current deadline
ticket-provisional = provisional
ticket-provisional_hint = The year's holiday schedule is not published yet; the deadline follows the standing rule
ticket-resolution = What was done
ticket-clocks = Clocks
ticket-yours = yours
ticket-paused = paused
ticket-departments = Departments
ticket-actions = What you can do
ticket-no_actions = There is nothing for you to do on this request now
ticket-confirm = Confirm:
ticket-duplicate_hint = Requests of the same category at the same place in the last 30 days.
ticket-duplicate_search = Find by number or words
ticket-no_candidates = No likely duplicates found
ticket-timeline = History
ticket-comment = Comment
ticket-comment_submit = Post comment
ticket-commented = Comment posted
ticket-done = Done: { $action }
ticket-stale = Someone acted on this request before you; this is how it stands now, and what you typed is kept.

event-system = System
event-file = Filed
event-comment = Comment
event-sla_warning = Deadline warning
event-sla_breach = Overdue
event-sla_reminder = Overdue reminder
event-sla_pause_expired = Pause ended, clock resumed

day-title = Today's visits
day-log_due = Log due
day-log_filed = Today's log is filed
day-log_amend = You can still add households and requests.
day-log_sent = The visit log was sent
day-log_changed = Today's log was changed elsewhere; this is how it stands now, and what you typed is kept. Check and send again.
day-households = Households due
day-no_households = No household is due today
day-overdue = Days overdue
day-households_visited = Households visited
day-households_visited_hint = Leave empty to count the ticked households
day-observations = What you saw
day-requests = Requests raised
day-requests_hint = Leave unused blocks empty.
day-request = Request
day-submit = Send today's log
day-submit_amend = Add to today's log
day-no_grid = You have no grid
day-offline = No network: a log you send is kept on this phone and sent when the network is back.
day-drafts = Logs not sent yet
day-drafts_hint = Kept on this phone and sent when online; nothing is filed twice.
day-send_drafts = Send now
day-draft_pending = not sent yet
day-draft_sent = sent
day-photos_again = Please add the chosen photos again.
day-photos_hint = Take a photo or choose from the album, up to { $max }; the place and other camera data are removed

mine-title = My requests
mine-return_visits = Return visits due
mine-record = Record the return visit
mine-open = Open

board-title = Board
board-generated = Updated
board-totals = Overview
board-open = Open requests
board-overdue = overdue
board-logs_missing = Logs not filed in time
board-by_state = Open by stage
board-nearest = Nearest deadlines
board-logs = Today's visit logs
board-logs_summary = { $filed } of { $workers } grid workers have filed
board-compliance = Logs filed on time, last 30 days:
board-loop = The visit loop (last 30 days)

log-filed = filed on time
log-filed_late = filed late
log-pending = not filed yet
log-missing = not filed in time

loop-visited = Visited
loop-fed_back = Fed back
loop-followed_up = Return visit due
loop-closed = Closed after return visit
loop-ended = Declined or duplicate

inbox-title = To do
search-title = Find requests
search-q = Number or words
search-q_hint = e.g. 2026-000123 or leak
search-state = Stage
search-any_state = Any
search-building = Building
search-any_building = All buildings
search-this_place = The place being viewed
search-overdue = Overdue only
search-submit = Search

list-empty = Nothing here
list-more = Next page
log-not_expected = no log due today

household-ordinary = ordinary
household-elderly_alone = elderly living alone
household-party_member_household = Party member household
household-disabled = household with a disabled member
household-low_income = low-income household

ticket-photos = Photos
ticket-photo = Choose a photo
ticket-photo_kind = Kind of photo
ticket-photo_request = Photo of the request
ticket-photo_solution = Photo of the solution
ticket-photo_add = Upload photo
ticket-photo_added = Photo uploaded
ticket-photo_hint = JPEG, PNG or WebP, up to { $mb } MB; the place and other camera data are removed
event-photo = Photo added
