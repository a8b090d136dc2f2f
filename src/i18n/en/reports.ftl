# Rankings and reports: the period, the unit and the measures.
rule-report_period_form = “{ $text }” is not a period: write a month (2026-10), a quarter ({ $quarter }) or a year (2026)
rule-report_period_or_range = give either a period or from and to, not both
rule-report_range_both = a range needs both { $from } and { $to }
rule-report_range_too_long = a range may cover at most { $days } days
why-report_no_unit_in_scope = no such unit in your scope, or none whose rankings you may see
rule-report_measure_needed = name the figure to list ({ $measures })
# The ledger export's column headers.
field-export_number = Number
field-export_filed_at = Filed at
field-export_category = Category
field-export_urgency = Urgency
field-export_title = Title
field-export_state = State
field-export_due_at = Due at
field-export_overdue = Overdue
field-export_reopens = Reopened
field-export_yes = yes
field-export_no = no
field-export_resident_name = Resident
field-export_resident_phone = Phone
