# The domain's names: states, actions, roles, kinds. Keys: <Type>-<code>.

## TicketState
TicketState-at_compound = Waiting for the compound
TicketState-compound_handling = Handled by the compound
TicketState-at_community = Waiting for the community
TicketState-community_handling = Handled by the community
TicketState-whistled = With the departments
TicketState-solved = Waiting for the return visit
TicketState-closed = Closed
TicketState-duplicate = Duplicate
TicketState-declined = Declined

## Level
Level-compound = Compound
Level-community = Community
Level-department = Department

## ActionKind
ActionKind-accept_at_compound = Accept at the compound
ActionKind-report_to_community = Report to the community
ActionKind-mark_duplicate = Mark as duplicate
ActionKind-decline = Decline
ActionKind-accept_at_community = Accept at the community
ActionKind-whistle = Whistle for departments
ActionKind-add_department = Add a department
ActionKind-remove_department = Take a department off
ActionKind-acknowledge = Acknowledge (report)
ActionKind-return_case = Return the case
ActionKind-request_extension = Ask for more time
ActionKind-add_progress = Add progress
ActionKind-complete_part = Complete our part
ActionKind-mark_solved = Mark solved
ActionKind-rule_on_return = Rule on a return
ActionKind-rule_on_extension = Rule on an extension
ActionKind-record_return_visit = Record the return visit
ActionKind-pause_for_resident = Wait for the resident
ActionKind-resume_work = Resume work
ActionKind-release_part = Release a co-department
ActionKind-escalate_to_community = Escalate to the community (time limit passed)

## AssignmentState
AssignmentState-dispatched = Waiting to acknowledge
AssignmentState-acknowledged = Handling
AssignmentState-returned = Returned
AssignmentState-done = Part done
AssignmentState-removed = Off the case

## ReturnReason
ReturnReason-not_our_territory = Not our territory
ReturnReason-unclear_ownership = Unclear ownership
ReturnReason-overlapping_duties = Overlapping duties
ReturnReason-outside_our_remit = Outside our remit

## WhistleType
WhistleType-beyond_street_power = Beyond the street's powers
WhistleType-enforcement_needed = Enforcement needed
WhistleType-emergency = Emergency

## Satisfaction
Satisfaction-satisfied = Satisfied
Satisfaction-basically_satisfied = Basically satisfied
Satisfaction-not_satisfied = Not satisfied

## Channel
Channel-visit = Home visit
Channel-hotline = Hotline
Channel-walk_in = Walk-in
Channel-online = Online

## OrgKind
OrgKind-city = City
OrgKind-district = District
OrgKind-street = Street
OrgKind-community = Community
OrgKind-compound = Compound
OrgKind-building = Building
OrgKind-department = Department

## Role
Role-grid_worker = Grid worker
Role-branch_secretary = Branch secretary
Role-community_staff = Community staff
Role-department_liaison = Department liaison
Role-supervisor = Supervisor
Role-admin = Administrator
Role-committee_representative = Owners' committee representative
Role-company_representative = Property company representative

## Stage
Stage-compound_triage = Compound triage
Stage-community_acceptance = Community acceptance
Stage-department_acknowledgement = Department acknowledgement
Stage-resolution = Resolution
Stage-return_visit = Return visit
Stage-return_ruling = Ruling on a return

## PartEnd
PartEnd-removed = Taken off
PartEnd-released = Released
PartEnd-return_accepted = Return accepted

## YearStatus
YearStatus-published = Published
YearStatus-provisional = Provisional

## Three-party consultation
Party-branch = Party branch
Party-owners_committee = Owners' committee
Party-property_company = Property company
ItemState-agenda = On the agenda
ItemState-action = In progress
ItemState-done = Done
ItemState-dropped = Dropped
Timeliness-running = Not yet due
Timeliness-overdue = Overdue
Timeliness-on_time = Done on time
Timeliness-late = Done late
CandidateReason-recurring = Recurring
CandidateReason-reopened = Reopened
CandidateReason-dissatisfied = Resident dissatisfied
Verdict-satisfactory = Satisfactory
Verdict-rectify = Called in to rectify
Verdict-replace = Replacement recommended

# Requests from outside the grid (12345, Open311, a resident's link): decision 0032.
why-triage_compound = the triage compound must be an active compound inside the outside system's scope
why-client_scope = an outside system's scope is a city, district, street, community or compound, not a building or a department
why-map_code_taken = the platform's category code "{ $code }" appears twice
why-external_id = the external id must be 1–64 letters, digits or -_.:
why-link_needs_phone = sending the status link by SMS needs a mobile number
why-link_needs_email = sending the status link by mail needs an email address
why-no_category_map = the platform's category code "{ $code }" is not mapped to a category here yet: an admin must map it first
rule-rfc3339 = must be a time with its offset, such as { $example }
rule-number = must be a number
why-order_finished = the request of this work order is { $state } and can no longer be changed
why-link_who = only those who can act on the request may send or revoke its status links
why-rate_after_solved = a request can be rated once it is solved
why-already_rated = already rated: thank you for your feedback
why-open311_location = give a location: coordinates or an address ({ $fields })
why-open311_api_key = { $field } missing or not valid
why-open311_window = the date range may span at most { $days } days, and end_date may not be before start_date
why-open311_form = the body must be form-encoded text ({ $type })
open311-contact = Contact your community, or call the 12345 citizens' hotline
open311-key_service = Keys are issued by a district or street admin who registers the app as an outside system in Gridloop
open311-attr_urgency = Urgency
open311-attr_building = Building and entrance (e.g. Building 3, Entrance 2), to find the grid
open311-attr_building_form = text, e.g. "3号楼"
entity-external_client = Outside system
entity-work_order = Work order
entity-resident_link = Status link
ClientKind-hotline = 12345 hotline platform
ClientKind-open311 = Open311 app
Landing-unit = the unit the platform named
Landing-address = matched by address
Landing-triage = waiting for triage
PlatformStatus-accepted = Accepted
PlatformStatus-rejected = Sent back
PlatformStatus-extension_requested = Extension requested
PlatformStatus-solved = Solved
PlatformStatus-return_visit = Return visit
resident-stage-at_compound = Registered, waiting for the compound
resident-stage-compound_handling = The compound is handling it
resident-stage-at_community = Passed to the community, waiting for it to take it on
resident-stage-community_handling = The community is handling it
resident-stage-whistled = The community brought in the departments concerned
resident-stage-solved = Solved, waiting for the follow-up visit
resident-stage-closed = Done
resident-stage-duplicate = Handled together with the same request
resident-stage-declined = Not taken on after checking
resident-step-file = Request registered
resident-step-external_update = Request updated
resident-step-accept = Taken on
resident-step-report_to_community = Passed to the community
resident-step-whistle = Departments brought in
resident-step-acknowledge = A department took it on
resident-step-pause_for_resident = Waiting for more from you
resident-step-resume_work = Work resumed
resident-step-mark_solved = Solved
resident-step-record_return_visit = Follow-up visit done
resident-step-decline = Not taken on
resident-step-mark_duplicate = Handled together with the same request
resident-step-resident_rating = You rated it
Landing-location = matched by location
