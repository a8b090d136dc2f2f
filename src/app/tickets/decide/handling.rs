//! The handling level's own steps: 办结, 等待居民 and 恢复办理; and the grid worker's 回访.

use serde_json::Value;

use crate::app::sla;
use crate::app::{opt_text, AppError, AppResult};
use crate::domain::workflow::{handling_level, reopened_state, Level, Satisfaction, TicketState};

use super::super::loaded::Loaded;
use super::{required, Change, Step};

/// 办结: the resolution, and the level that solved it (a not-satisfied return visit reopens the
/// case there).
pub(super) fn mark_solved(t: &mut Loaded, c: &mut Change, from: TicketState, resolution: String) -> AppResult<()> {
    let level = handling_level(from).ok_or_else(|| AppError::internal_msg("solving without a level".into()))?;
    let how = required("resolution", &resolution)?;
    c.note("solved_level", t.row.solved_level, level.as_str());
    c.note("resolution", &t.row.resolution, &how);
    t.row.solved_level = Some(level);
    t.row.resolution = Some(how);
    Ok(())
}

/// 等待居民: the running resolution clocks pause (at most `sla.max_pause_hours`).
pub(super) fn pause(s: &mut Step<'_, '_>, t: &Loaded, c: &mut Change, reason: String) -> AppResult<()> {
    c.reason = Some(required("reason", &reason)?);
    if sla::pause(s.conn, s.ctx, t.row.id, c.reason.as_deref().unwrap_or_default(), s.now)? == 0 {
        return Err(AppError::Conflict { code: "nothing_to_pause", detail: crate::msg!("why-nothing_to_pause") });
    }
    c.note("paused_until_at_most", Value::Null, s.now + chrono::Duration::hours(s.ctx.settings.max_pause_hours));
    Ok(())
}

/// 恢复办理: the paused clocks run again with the time they had left.
pub(super) fn resume(s: &mut Step<'_, '_>, t: &Loaded, c: &mut Change, note: Option<String>) -> AppResult<()> {
    c.reason = opt_text("note", &note, 2000)?;
    if sla::resume(s.conn, s.ctx, t.row.id, s.now)? == 0 {
        return Err(AppError::Conflict { code: "not_paused", detail: crate::msg!("why-not_paused") });
    }
    Ok(())
}

/// 回访: satisfied (or basically) closes the case; not satisfied reopens it at the level that
/// solved it.
pub(super) fn return_visit(
    s: &mut Step<'_, '_>,
    t: &mut Loaded,
    c: &mut Change,
    verdict: Satisfaction,
    note: Option<String>,
) -> AppResult<()> {
    c.reason = opt_text("note", &note, 2000)?;
    c.note("satisfaction", t.row.satisfaction, verdict.as_str());
    t.row.satisfaction = Some(verdict);
    if verdict == Satisfaction::NotSatisfied {
        let level: Level = t.row.solved_level.unwrap_or(Level::Compound);
        c.to = reopened_state(level);
        c.note("reopen_count", t.row.reopen_count, t.row.reopen_count + 1);
        t.row.reopen_count += 1;
    } else {
        c.to = TicketState::Closed;
        t.row.closed_at = Some(s.now);
    }
    Ok(())
}
