//! A ticket's photos: those of the request (诉求照片) and of the solved report (办结照片). Adding
//! one needs the ticket's full sight (as a comment does); seeing one, the ticket's sight: a photo
//! of a ticket the person may not see is the same 404 as a missing one.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::audit::{self, ActedBy, Draft};
use crate::app::photos::{Cleaned, PhotoStore};
use crate::db::models::PhotoRow;
use crate::db::schema::photos;
use crate::db::DbConn;
use crate::domain::{Actor, PhotoId, TicketId};

use super::loaded::load_visible;
use crate::app::{AppError, AppResult};
use crate::domain::workflow::Sight;

/// Which photos of a ticket: the request's, or the solved report's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhotoKind {
    Request,
    Solution,
}

impl PhotoKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PhotoKind::Request => "request",
            PhotoKind::Solution => "solution",
        }
    }
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PhotoView {
    pub id: String,
    pub ticket_id: String,
    pub kind: String,
    pub width: i32,
    pub height: i32,
    pub bytes: i64,
    pub uploaded_by: String,
    #[serde(with = "crate::app::rfc3339")]
    pub created_at: NaiveDateTime,
}

fn view(r: PhotoRow) -> PhotoView {
    PhotoView {
        id: r.id.to_string(),
        ticket_id: r.ticket_id.to_string(),
        kind: r.kind,
        width: r.width,
        height: r.height,
        bytes: r.bytes,
        uploaded_by: r.uploaded_by.to_string(),
        created_at: r.created_at,
    }
}

/// Adds a cleaned photo to a ticket; the same photo again is the one already there (`false`).
pub fn attach(
    conn: &mut DbConn,
    store: &dyn PhotoStore,
    actor: &Actor,
    ticket_id: &TicketId,
    kind: PhotoKind,
    photo: &Cleaned,
    now: NaiveDateTime,
) -> AppResult<(PhotoView, bool)> {
    let t = load_visible(conn, actor, ticket_id)?;
    if t.sight(actor)? != Sight::Full {
        return Err(AppError::forbidden(crate::msg!("why-part_ended_no_comment")));
    }
    // The files first: a row never points at a file that is not there.
    let sha256 = store.put(&photo.jpeg)?;
    let thumb_sha256 = store.put(&photo.thumb)?;
    let existing: Option<PhotoRow> = photos::table
        .filter(photos::ticket_id.eq(&t.row.id))
        .filter(photos::kind.eq(kind.as_str()))
        .filter(photos::sha256.eq(&sha256))
        .select(PhotoRow::as_select())
        .first(conn)
        .optional()?;
    if let Some(r) = existing {
        return Ok((view(r), false));
    }
    let row = PhotoRow {
        id: PhotoId::new(),
        ticket_id: t.row.id,
        kind: kind.as_str().into(),
        sha256,
        thumb_sha256,
        width: photo.width as i32,
        height: photo.height as i32,
        bytes: photo.jpeg.len() as i64,
        uploaded_by: actor.person_id,
        created_at: now,
    };
    diesel::insert_into(photos::table).values(&row).execute(conn)?;
    let grant = actor.grants.iter().filter(|g| g.org_path.contains(&t.place.place)).max_by_key(|g| g.org_path.depth()).cloned();
    let by = ActedBy::person(actor.person_id, grant.as_ref());
    let entity_id = t.row.id.to_string();
    audit::append(
        conn,
        Draft {
            entity_kind: "ticket",
            entity_id: &entity_id,
            by: &by,
            action: "photo",
            from_state: None,
            to_state: None,
            reason: None,
            changes: json!({"photo_id": row.id, "kind": row.kind}),
        },
        now,
    )?;
    Ok((view(row), true))
}

/// The photos of a ticket the person may see, oldest first.
pub fn list_photos(conn: &mut DbConn, actor: &Actor, ticket_id: &TicketId) -> AppResult<Vec<PhotoView>> {
    let t = load_visible(conn, actor, ticket_id)?;
    let rows: Vec<PhotoRow> = photos::table
        .filter(photos::ticket_id.eq(&t.row.id))
        .order((photos::created_at, photos::id))
        .select(PhotoRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(view).collect())
}

/// A photo by id, for someone who may see its ticket; else the 404 of a missing photo.
pub fn photo_for(conn: &mut DbConn, actor: &Actor, photo_id: &PhotoId) -> AppResult<PhotoRow> {
    let missing = AppError::NotFound { what: "photo" };
    let row: PhotoRow = photos::table
        .find(photo_id.to_string())
        .select(PhotoRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound { what: "photo" })?;
    match load_visible(conn, actor, &row.ticket_id) {
        Ok(_) => Ok(row),
        Err(AppError::NotFound { .. }) => Err(missing),
        Err(e) => Err(e),
    }
}
