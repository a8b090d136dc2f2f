//! Turns an actor's grants into SQL filters, so that lists return exactly the in-scope set in one
//! indexed query, and single objects outside scope look exactly like missing ones.

use diesel::prelude::*;

use crate::db::schema::org_units;
use crate::domain::roles::Decision;
use crate::domain::{Actor, Operation, OrgPath};

use super::{AppError, AppResult};

pub type Db = <crate::db::DbConn as diesel::Connection>::Backend;

type BoolExpr<QS> = Box<dyn BoxableExpression<QS, Db, SqlType = diesel::sql_types::Bool>>;

/// `org_units.path` lies in one of the subtrees where the actor may do `op`. An actor with no
/// such grant gets a filter that matches nothing. Usable on any query that has `org_units` in
/// its FROM clause (alone or joined).
pub fn units_in_scope<QS: 'static>(actor: &Actor, op: Operation) -> BoolExpr<QS>
where
    org_units::path: SelectableExpression<QS> + AppearsOnTable<QS>,
{
    paths_in(actor.scope_roots(op))
}

/// `org_units.path` lies in the subtree of one of `roots`.
pub fn paths_in<QS: 'static>(roots: Vec<OrgPath>) -> BoolExpr<QS>
where
    org_units::path: SelectableExpression<QS> + AppearsOnTable<QS>,
{
    column_in_subtrees(org_units::path, roots)
}

/// A materialised-path column (`org_units.path`, `visit_logs.grid_path`, …) lies in the subtree of
/// one of `roots`: one range per root, so each is an index range scan.
pub fn column_in_subtrees<QS: 'static, C>(column: C, roots: Vec<OrgPath>) -> BoolExpr<QS>
where
    C: diesel::Column<SqlType = diesel::sql_types::Text> + SelectableExpression<QS> + AppearsOnTable<QS> + Copy + Send + 'static,
    C: diesel::query_builder::QueryFragment<Db> + diesel::expression::ValidGrouping<(), IsAggregate = diesel::expression::is_aggregate::No>,
{
    // No constant-false seed: a leading `1 = 0 OR` keeps SQLite from using the path index.
    let mut terms = roots.into_iter().map(|root| -> BoolExpr<QS> {
        let upper = root.subtree_upper_bound();
        Box::new(column.ge(root.as_str().to_string()).and(column.lt(upper)))
    });
    match terms.next() {
        None => Box::new(diesel::dsl::sql::<diesel::sql_types::Bool>("1 = 0")),
        Some(first) => terms.fold(first, |acc, t| Box::new(acc.or(t))),
    }
}

/// Turns a decision into the error the API reports.
pub fn enforce(decision: Decision, what: &'static str, op: Operation) -> AppResult<()> {
    match decision {
        Decision::Allowed => Ok(()),
        Decision::Forbidden => Err(AppError::forbidden(
            crate::msg!("why-op_roles", what = crate::domain::text::Arg::Key(super::error::entity_key(what)))
                .with("roles", crate::domain::text::Arg::keys(op.roles().iter().map(|r| r.label_key()))),
        )),
        Decision::Hidden => Err(AppError::NotFound { what }),
    }
}

/// The scope roots narrowed to the subtree of `within` (an id as given; malformed: 422): each
/// root that holds it becomes it, each root below it stays, the others go (empty: nothing in
/// scope there). `None` when `within` names no unit; the roots unchanged without `within`.
pub fn narrowed_to(conn: &mut crate::db::DbConn, roots: Vec<OrgPath>, within: Option<&str>) -> AppResult<Option<Vec<OrgPath>>> {
    let Some(within) = within else { return Ok(Some(roots)) };
    let within: crate::domain::OrgUnitId = super::parse_id("within", within)?;
    let Some(u) = super::org::find_unit(conn, &within)? else { return Ok(None) };
    let w = u.path;
    Ok(Some(
        roots
            .into_iter()
            .filter_map(|r| {
                if r.contains(&w) {
                    Some(w.clone())
                } else if w.contains(&r) {
                    Some(r)
                } else {
                    None
                }
            })
            .collect(),
    ))
}
