//! Backups that restore (#22, first step): `gridloop backup DEST` takes a consistent copy while
//! the service runs and records the audit chains' heads beside it (`DEST.audit.json`, the
//! `audit checkpoint` format); `gridloop restore SRC` puts it into an empty database and proves
//! the restored trail against those heads. SQLite: `VACUUM INTO` (the copy is a snapshot of one
//! moment; the heads are read from the copy itself). PostgreSQL: `pg_dump` of the service's
//! schema in the custom format, inside a repeatable-read snapshot the heads are read in too;
//! `pg_restore` to restore.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::NaiveDateTime;

use crate::app::audit::{self, Checkpoint};
use crate::app::{AppError, AppResult};
use crate::config::DatabaseTarget;
use crate::db::{backend, DbConn};

/// What a backup wrote.
pub struct BackupDone {
    pub path: PathBuf,
    pub checkpoint_path: PathBuf,
    pub checkpoint: Checkpoint,
    pub bytes: u64,
}

/// Where a backup's audit heads are kept: beside it, `<file>.audit.json`.
pub fn checkpoint_path(backup: &Path) -> PathBuf {
    let mut p = backup.as_os_str().to_owned();
    p.push(".audit.json");
    PathBuf::from(p)
}

fn io(what: &str, path: &Path, e: std::io::Error) -> AppError {
    AppError::internal_msg(format!("{what} {}: {e}", path.display()))
}

/// Runs a PostgreSQL client program, its error output in the failure.
fn run_tool(program: &str, args: &[&str]) -> AppResult<()> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| AppError::internal_msg(format!("cannot run {program} (the PostgreSQL client programs must be installed): {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(AppError::internal_msg(format!("{program} failed: {}", String::from_utf8_lossy(&out.stderr).trim())))
    }
}

/// Takes a backup of the database `conn` is connected to (`target`) into `dest`, which must not
/// exist, while the service may be running.
pub fn backup(conn: &mut DbConn, target: &DatabaseTarget, dest: &Path, now: NaiveDateTime) -> AppResult<BackupDone> {
    let cp_path = checkpoint_path(dest);
    if dest.exists() || cp_path.exists() {
        return Err(AppError::internal_msg(format!("{} already exists: a backup never overwrites one", dest.display())));
    }
    let dest_text = dest.to_string_lossy().into_owned();
    let checkpoint = match target {
        DatabaseTarget::Sqlite(_) => {
            backend::backup::sqlite_vacuum_into(conn, &dest_text)?;
            // The copy's own heads: what it holds, by construction.
            let mut copy = crate::db::connect_url(&dest_text).map_err(|e| AppError::internal_msg(format!("cannot open the copy: {e}")))?;
            audit::checkpoint(&mut copy, now)?
        }
        DatabaseTarget::Postgres(url) => {
            let schema = backend::backup::current_schema(conn)?.unwrap_or_else(|| "public".into());
            backend::backup::with_exported_snapshot(conn, |c, snapshot| -> AppResult<Checkpoint> {
                let cp = audit::checkpoint(c, now)?;
                let snapshot = format!("--snapshot={}", snapshot.unwrap_or_default());
                let schema = format!("--schema={schema}");
                let file = format!("--file={dest_text}");
                let db = format!("--dbname={url}");
                run_tool("pg_dump", &["--format=custom", "--no-owner", "--no-privileges", &schema, &snapshot, &file, &db])?;
                Ok(cp)
            })?
        }
    };
    let json = serde_json::to_string_pretty(&checkpoint).map_err(|e| AppError::internal_msg(e.to_string()))?;
    std::fs::write(&cp_path, json).map_err(|e| io("cannot write", &cp_path, e))?;
    let bytes = std::fs::metadata(dest).map_err(|e| io("cannot read", dest, e))?.len();
    Ok(BackupDone { path: dest.to_path_buf(), checkpoint_path: cp_path, checkpoint, bytes })
}

/// The checkpoint recorded beside a backup, if there is one.
pub fn recorded_checkpoint(src: &Path) -> AppResult<Option<Checkpoint>> {
    let p = checkpoint_path(src);
    if !p.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&p).map_err(|e| io("cannot read", &p, e))?;
    serde_json::from_str(&text).map(Some).map_err(|e| AppError::internal_msg(format!("{} is not a checkpoint: {e}", p.display())))
}

/// Whether a restore may go into this database: it must hold no org unit and no person.
pub fn target_is_empty(conn: &mut DbConn) -> AppResult<bool> {
    Ok(!backend::backup::holds_data(conn)?)
}

/// SQLite: puts the backup file in place of the (empty or absent) database file at `path`.
/// The service must not be running on it.
pub fn restore_sqlite_file(src: &Path, path: &Path) -> AppResult<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".restoring");
    let tmp = PathBuf::from(tmp);
    std::fs::copy(src, &tmp).map_err(|e| io("cannot copy to", &tmp, e))?;
    for side in ["-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(side);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    std::fs::rename(&tmp, path).map_err(|e| io("cannot move into place", path, e))
}

/// PostgreSQL: restores a `pg_dump` custom-format backup into the database at `url` (its schema
/// replaced: `--clean --if-exists`).
pub fn restore_postgres(src: &Path, url: &str) -> AppResult<()> {
    let db = format!("--dbname={url}");
    let src = src.to_string_lossy().into_owned();
    run_tool("pg_restore", &["--clean", "--if-exists", "--no-owner", "--no-privileges", "--exit-on-error", &db, &src])
}

/// The file name of a scheduled backup taken at `at`: `gridloop-20261202T023000Z.backup`.
fn scheduled_name(at: NaiveDateTime) -> String {
    format!("gridloop-{}.backup", at.format("%Y%m%dT%H%M%SZ"))
}

/// The scheduled backups in `dir`, oldest first, with the moment each was taken.
fn scheduled_in(dir: &Path) -> AppResult<Vec<(NaiveDateTime, PathBuf)>> {
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).map_err(|e| io("cannot read", dir, e))? {
        let path = entry.map_err(|e| io("cannot read", dir, e))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let Some(stamp) = name.strip_prefix("gridloop-").and_then(|n| n.strip_suffix(".backup")) else { continue };
        if let Ok(at) = NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ") {
            out.push((at, path));
        }
    }
    out.sort();
    Ok(out)
}

/// A scheduled backup (SQLite only): when the newest in `dir` is `every_hours` old (or there is
/// none), takes one, then keeps the newest `keep` and deletes the others with their heads files.
/// Returns the backup taken, if one was.
pub fn scheduled(
    conn: &mut DbConn,
    target: &DatabaseTarget,
    dir: &Path,
    every_hours: u64,
    keep: usize,
    now: NaiveDateTime,
) -> AppResult<Option<BackupDone>> {
    if !matches!(target, DatabaseTarget::Sqlite(_)) {
        return Ok(None);
    }
    std::fs::create_dir_all(dir).map_err(|e| io("cannot create", dir, e))?;
    let existing = scheduled_in(dir)?;
    if existing.last().is_some_and(|(at, _)| now - *at < chrono::Duration::hours(every_hours as i64)) {
        return Ok(None);
    }
    let done = backup(conn, target, &dir.join(scheduled_name(now)), now)?;
    let all = scheduled_in(dir)?;
    for (_, old) in all.iter().take(all.len().saturating_sub(keep.max(1))) {
        std::fs::remove_file(old).map_err(|e| io("cannot delete", old, e))?;
        let _ = std::fs::remove_file(checkpoint_path(old));
    }
    Ok(Some(done))
}
