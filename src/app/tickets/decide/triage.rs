//! 受理, 上报社区, 判重, 不予受理: the compound's and the community's first look.

use crate::app::{opt_text, parse_id, AppError, AppResult};
use crate::domain::workflow::Sight;

use super::super::loaded::{load, Loaded};
use super::{required, Change, Step};

/// 受理 at the compound or the community: an optional note.
pub(super) fn accept(c: &mut Change, note: Option<String>) -> AppResult<()> {
    c.reason = opt_text("note", &note, 2000)?;
    Ok(())
}

/// 上报社区 and 不予受理: a required reason.
pub(super) fn with_reason(c: &mut Change, reason: String) -> AppResult<()> {
    c.reason = Some(required("reason", &reason)?);
    Ok(())
}

/// 判重: points the ticket at the original it repeats, which the caller must see, and never at
/// another duplicate.
pub(super) fn mark_duplicate(
    s: &mut Step<'_, '_>,
    t: &mut Loaded,
    c: &mut Change,
    original: String,
    reason: Option<String>,
) -> AppResult<()> {
    let original_id: crate::domain::TicketId = parse_id("duplicate_of", &original)?;
    if original_id == t.row.id {
        return Err(AppError::validation("duplicate_of", crate::msg!("why-duplicate_self")));
    }
    let visible = match load(s.conn, &original_id)? {
        Some(o) => Some(o.sight(s.actor)? == Sight::Full).filter(|v| *v).map(|_| o),
        None => None,
    };
    let o = visible
        .ok_or_else(|| AppError::UnknownReference { field: "duplicate_of".into(), detail: crate::msg!("why-no_ticket_in_scope") })?;
    let target = o.row.duplicate_of.unwrap_or(o.row.id);
    c.reason = opt_text("reason", &reason, 2000)?;
    c.note("duplicate_of", t.row.duplicate_of, target);
    t.row.duplicate_of = Some(target);
    Ok(())
}
