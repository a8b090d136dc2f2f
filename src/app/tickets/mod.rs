//! Tickets (诉求) through the closed loop: filing, the named workflow actions, comments, the
//! timeline, photos, lists and the per-role inbox. Each action changes the ticket, bumps its
//! version and appends its audit event together, in the caller's transaction; a comment or a
//! photo only appends its event.
//!
//! Which action is allowed, for whom, and where it leads is the domain's
//! (`domain::workflow`); this module loads what the rules look at, asks them, and writes the
//! outcome. Its parts:
//!
//! - [`requests`]: what callers send (a filing, an action, a list filter);
//! - [`loaded`]: a ticket with its parts and clocks, as the rules see it, and loading it;
//! - [`scope`]: the "tickets this person may see" filter, evaluated in the database;
//! - [`views`]: what callers get back, per viewer (his deadline, his actions);
//! - [`filing`]: 登记, alone or in the intake's group commit;
//! - [`actions`]: 办理, one action or a batch: check, write, audit;
//! - [`decide`]: each action's own arguments and writes (parts, extensions, clocks), by family;
//! - [`timeline`]: comments and the history;
//! - [`queries`]: one ticket, lists, the inbox, the departments to whistle, the contact reveal.

mod actions;
mod decide;
mod filing;
mod loaded;
mod photos;
mod queries;
mod requests;
mod scope;
mod timeline;
mod views;

pub use actions::{act, act_together, escalate_breached, ActRequest};
pub use filing::{
    check_filing, check_filing_with, file_ticket, insert_filing, insert_filings, lock_rows, number_day, prepare_filing, FilingRefs,
    PreparedFiling,
};
pub use photos::{attach, list_photos, photo_for, PhotoKind, PhotoView};
pub(crate) use queries::{decode_cursor, encode_cursor};
pub use queries::{get_ticket, inbox, list_tickets, reveal_contact, whistle_choices, DepartmentChoice, RevealedContact};
pub use requests::normal as normal_urgency;
pub use requests::{ActionRequest, ExtensionRuling, NewTicket, ReturnRuling, TicketFilter};
pub use timeline::{clocks_of, comment, timeline};
pub use views::{summaries, DepartmentPartView, ExtensionView, RunningClockView, TicketPage, TicketSummary, TicketView};

/// What another area needs of a ticket the actor can see (fully: not a department whose part
/// ended): its number, community, place, state and resident's phone. Hidden → not found.
pub struct Visible {
    pub id: crate::domain::TicketId,
    pub number: String,
    pub community_id: crate::domain::OrgUnitId,
    pub place_path: crate::domain::OrgPath,
    pub state: crate::domain::workflow::TicketState,
    pub resident_phone: Option<String>,
}

/// The ticket, if the actor sees all of it.
pub fn visible(conn: &mut crate::db::DbConn, actor: &crate::domain::Actor, id: &crate::domain::TicketId) -> crate::app::AppResult<Visible> {
    let t = loaded::load_visible(conn, actor, id)?;
    if t.sight(actor)? != crate::domain::workflow::Sight::Full {
        return Err(crate::app::AppError::NotFound { what: "ticket" });
    }
    Ok(Visible {
        id: t.row.id,
        number: t.row.number,
        community_id: t.row.community_id,
        place_path: t.row.place_path,
        state: t.row.state,
        resident_phone: t.row.resident_phone,
    })
}
