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
