//! The forms of a ticket's actions: for each action the person may take now, the fields it
//! needs (a reason, a reason code, departments, a new deadline…), and the way a submitted form
//! becomes the same [`ActionRequest`] the API takes, so that both are checked by one use case.

use serde_json::{Map, Value};

use crate::app::tickets::{ActionRequest, DepartmentChoice, TicketView};
use crate::app::AppError;
use crate::domain::workflow::{ActionKind, AssignmentState, ReturnReason, Satisfaction, WhistleType};

use super::page::{Clock, Form, Tr};

/// A choice in a select, a group of checkboxes or radio buttons.
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// How a field is entered.
pub enum Input {
    Area,
    Select(Vec<Opt>),
    Checks(Vec<Opt>),
    Radios(Vec<Opt>),
    DateTime,
}

pub struct Field {
    pub name: &'static str,
    pub label: String,
    pub input: Input,
    pub required: bool,
    /// What the person typed last time (after an error), or a sensible default.
    pub value: String,
}

/// One action's form on a ticket page.
pub struct ActionForm {
    pub kind: &'static str,
    pub label: String,
    pub fields: Vec<Field>,
    /// Opened (after an error in it).
    pub open: bool,
    pub error: Option<String>,
}

/// What the forms need besides the ticket.
pub struct Extras<'a> {
    pub departments: &'a [DepartmentChoice],
    pub duplicates: &'a [(String, String)],
}

fn opts<T: Copy>(all: &[T], value: impl Fn(T) -> &'static str, label: impl Fn(T) -> String) -> Vec<Opt> {
    all.iter().map(|v| Opt { value: value(*v).into(), label: label(*v), selected: false }).collect()
}

/// The fields of one action, for this ticket.
pub fn fields_of(kind: ActionKind, t: &TicketView, x: &Extras<'_>, tr: Tr, clock: &Clock) -> Vec<Field> {
    let area = |name, key, required| Field { name, label: tr.t(key), input: Input::Area, required, value: String::new() };
    let select = |name, key, options: Vec<Opt>, required| Field {
        name,
        label: tr.t(key),
        input: Input::Select(options),
        required,
        value: String::new(),
    };
    let departments = || -> Vec<Opt> {
        x.departments.iter().map(|d| Opt { value: d.id.clone(), label: d.name.clone(), selected: d.default_for_category }).collect()
    };
    let parts = |pred: fn(AssignmentState) -> bool| part_options(t, pred);
    match kind {
        ActionKind::AcceptAtCompound | ActionKind::AcceptAtCommunity => vec![area("note", "field-note", false)],
        ActionKind::ReportToCommunity | ActionKind::Decline | ActionKind::PauseForResident => vec![area("reason", "field-reason", true)],
        ActionKind::MarkDuplicate => vec![
            Field {
                name: "duplicate_of",
                label: tr.t("field-duplicate_of"),
                input: Input::Radios(
                    x.duplicates.iter().map(|(id, label)| Opt { value: id.clone(), label: label.clone(), selected: false }).collect(),
                ),
                required: true,
                value: String::new(),
            },
            area("reason", "field-reason_optional", false),
        ],
        ActionKind::Whistle => vec![
            select("lead_department_id", "field-lead_department", departments(), true),
            Field {
                name: "co_department_ids",
                label: tr.t("field-co_departments"),
                input: Input::Checks(
                    x.departments.iter().map(|d| Opt { value: d.id.clone(), label: d.name.clone(), selected: false }).collect(),
                ),
                required: false,
                value: String::new(),
            },
            select("whistle_type", "field-whistle_type", opts(WhistleType::ALL, |v| v.as_str(), |v| tr.t(v.label_key())), true),
            area("reason", "field-reason", true),
        ],
        ActionKind::AddDepartment => {
            vec![select("department_id", "field-department", departments(), true), area("reason", "field-reason_optional", false)]
        }
        ActionKind::RemoveDepartment | ActionKind::ReleasePart => {
            vec![select("department_id", "field-department", parts(open_part), true), area("reason", "field-reason", true)]
        }
        ActionKind::Acknowledge => part_choice(t, tr),
        ActionKind::ReturnCase => {
            let mut f = part_choice(t, tr);
            f.push(select("reason_code", "field-reason_code", opts(ReturnReason::ALL, |v| v.as_str(), |v| tr.t(v.label_key())), true));
            f.push(area("note", "field-note_required", true));
            f
        }
        ActionKind::RequestExtension => {
            let mut f = part_choice(t, tr);
            f.push(area("reason", "field-reason", true));
            let mut due = Field {
                name: "proposed_due_at",
                label: tr.t("field-proposed_due_at"),
                input: Input::DateTime,
                required: true,
                value: String::new(),
            };
            if let Some(d) = t.due_at {
                due.value = clock.input_value(&(d + chrono::Duration::days(3)));
            }
            f.push(due);
            f
        }
        ActionKind::AddProgress | ActionKind::CompletePart => {
            let mut f = part_choice(t, tr);
            f.push(area("note", "field-note_required", true));
            f
        }
        ActionKind::MarkSolved => vec![area("resolution", "field-resolution", true)],
        ActionKind::RuleOnReturn => vec![
            select("department_id", "field-department", parts(|s| s == AssignmentState::Returned), true),
            select(
                "decision",
                "field-decision",
                vec![
                    Opt { value: "accept".into(), label: tr.t("ruling-return-accept"), selected: false },
                    Opt { value: "overrule".into(), label: tr.t("ruling-return-overrule"), selected: false },
                ],
                true,
            ),
            select("new_department_id", "field-new_department", departments(), false),
            area("reason", "field-reason", true),
        ],
        ActionKind::RuleOnExtension => vec![
            select(
                "extension_id",
                "field-extension",
                t.extensions
                    .iter()
                    .filter(|e| e.state == "pending")
                    .map(|e| Opt {
                        value: e.id.clone(),
                        label: format!("{} → {}", e.reason, clock.at(&e.proposed_due_at)),
                        selected: false,
                    })
                    .collect(),
                true,
            ),
            select(
                "decision",
                "field-decision",
                vec![
                    Opt { value: "grant".into(), label: tr.t("ruling-extension-grant"), selected: false },
                    Opt { value: "refuse".into(), label: tr.t("ruling-extension-refuse"), selected: false },
                ],
                true,
            ),
            area("reason", "field-reason_optional", false),
        ],
        ActionKind::RecordReturnVisit => vec![
            Field {
                name: "satisfaction",
                label: tr.t("field-satisfaction"),
                input: Input::Radios(opts(Satisfaction::ALL, |v| v.as_str(), |v| tr.t(v.label_key()))),
                required: true,
                value: String::new(),
            },
            area("note", "field-note", false),
        ],
        ActionKind::ResumeWork => vec![area("note", "field-note", false)],
        ActionKind::EscalateToCommunity => vec![],
    }
    .into_iter()
    // An optional choice with nothing to choose from is left out.
    .filter(|f| !matches!(&f.input, Input::Select(o) if o.is_empty() && !f.required))
    .collect()
}

/// A part still in the case (not removed, not done).
fn open_part(s: AssignmentState) -> bool {
    !matches!(s, AssignmentState::Removed | AssignmentState::Done)
}

/// The ticket's department parts in a given state, as choices.
fn part_options(t: &TicketView, pred: fn(AssignmentState) -> bool) -> Vec<Opt> {
    t.departments
        .iter()
        .filter(|p| pred(p.state))
        .map(|p| Opt { value: p.department_id.clone(), label: p.department_name.clone(), selected: false })
        .collect()
}

/// The department part to act for, offered only when the person could mean more than one.
fn part_choice(t: &TicketView, tr: Tr) -> Vec<Field> {
    let open = part_options(t, open_part);
    if open.len() <= 1 {
        return vec![];
    }
    vec![Field {
        name: "department_id",
        label: tr.t("field-department_own"),
        input: Input::Select(open),
        required: false,
        value: String::new(),
    }]
}

/// Puts what the person sent back into the fields (after an error: nothing typed is lost).
pub fn refill(fields: &mut [Field], form: &Form) {
    for f in fields {
        match &mut f.input {
            Input::Select(o) | Input::Radios(o) => {
                if let Some(v) = form.get(f.name) {
                    for opt in o.iter_mut() {
                        opt.selected = opt.value == v;
                    }
                }
            }
            Input::Checks(o) => {
                let chosen = form.all(f.name);
                for opt in o.iter_mut() {
                    opt.selected = chosen.contains(&opt.value);
                }
            }
            _ => f.value = form.raw(f.name),
        }
    }
}

/// The action request a submitted form stands for, checked for its required fields first (the
/// error names the field as the page labels it).
pub fn to_request(kind: ActionKind, fields: &[Field], form: &Form, clock: &Clock) -> Result<ActionRequest, AppError> {
    let mut m = Map::new();
    m.insert("action".into(), Value::String(kind.as_str().into()));
    for f in fields {
        match &f.input {
            Input::Checks(_) => {
                m.insert(f.name.into(), Value::Array(form.all(f.name).into_iter().map(Value::String).collect()));
            }
            Input::DateTime => match form.get(f.name) {
                Some(text) => {
                    let at =
                        clock.from_input(&text).ok_or_else(|| AppError::validation(f.label.clone(), crate::msg!("page-bad_datetime")))?;
                    m.insert(f.name.into(), Value::String(at));
                }
                None if f.required => return Err(AppError::validation(f.label.clone(), crate::msg!("rule-not_empty"))),
                None => {}
            },
            _ => match form.get(f.name) {
                Some(v) => {
                    m.insert(f.name.into(), Value::String(v));
                }
                None if f.required => return Err(AppError::validation(f.label.clone(), crate::msg!("rule-not_empty"))),
                None => {}
            },
        }
    }
    serde_json::from_value(Value::Object(m))
        .map_err(|e| AppError::validation("action", crate::msg!("page-bad_form", detail = e.to_string())))
}
