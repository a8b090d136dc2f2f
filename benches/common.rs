//! Shared by the benchmarks: bulk historic tickets made in the database itself, and the release
//! server started as a child process.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use diesel::connection::SimpleConnection;
use diesel::Connection;

/// Inserts `n` historic tickets spread over every building of the demo city, most closed; with
/// `clocks`, also the two time-limit clocks each would have (a stopped triage clock, and a
/// resolution clock stopped when it was solved or still running, due within a month), so that
/// `sla_clocks` has the size and shape it would have beside a million tickets.
pub fn seed_tickets(url: &str, postgres: bool, n: u64, clocks: bool) {
    let started = Instant::now();
    let mut conn = gridloop::db::DbConn::establish(url).unwrap();
    // Historic tickets over the past year, most closed, a few open, spread over every building.
    let (ids, days) = if postgres {
        (
            "lpad(to_hex(s.i), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(s.i), 12, '0')",
            "(timestamp '2026-11-26 00:00:00' - (s.i % 365) * interval '1 day' - (s.i % 86400) * interval '1 second')",
        )
    } else {
        (
            "printf('%08x-0000-7000-8000-%012x', s.i, s.i)",
            "strftime('%Y-%m-%d %H:%M:%f', '2026-11-26', '-' || (s.i % 365) || ' days', '-' || (s.i % 86400) || ' seconds')",
        )
    };
    // An open ticket's row keeps its running clock's deadline and warning time, as the service
    // writes them (decision 0029): set as the row is inserted, so that its layout is that of a row
    // written once (an update pass would leave every open row a second version).
    let open_due = if postgres {
        "((now() AT TIME ZONE 'UTC') + (s.i % 30 + 1) * interval '1 day')"
    } else {
        "strftime('%Y-%m-%d %H:%M:%f', 'now', '+' || (s.i % 30 + 1) || ' days')"
    };
    let (due, warn) = if clocks {
        (format!("CASE WHEN s.i % 100 = 1 THEN {open_due} ELSE {days} END"), format!("CASE WHEN s.i % 100 = 1 THEN {open_due} END"))
    } else {
        (days.to_string(), "NULL".to_string())
    };
    let sql = format!(
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}),
         b AS (SELECT u.id, u.path, u.parent_id AS compound_id, y.parent_id AS community_id,
                      row_number() OVER (ORDER BY u.code) - 1 AS k FROM org_units u JOIN org_units y ON y.id = u.parent_id
               WHERE u.kind = 'building'),
         nb AS (SELECT count(*) AS c FROM b),
         cat AS (SELECT id FROM categories ORDER BY code LIMIT 1),
         who AS (SELECT id FROM people WHERE login = 'gw.wang')
         INSERT INTO tickets (id, number, category_id, urgency, title, description, place_id, place_path, compound_id, community_id,
                              resident_name, resident_phone, channel, filed_by, state, reopen_count, due_at, warn_at, version, created_at, updated_at, closed_at)
         SELECT {ids}, 'H-' || s.i, (SELECT id FROM cat), CASE WHEN s.i % 10 = 0 THEN 'urgent' ELSE 'normal' END,
                '历史诉求', '基准数据', b.id, b.path, b.compound_id, b.community_id, '居民', '13700000000', 'visit', (SELECT id FROM who),
                CASE WHEN s.i % 100 = 0 THEN 'solved' WHEN s.i % 100 = 1 THEN 'compound_handling' ELSE 'closed' END,
                0, {due}, {warn}, 3, {days}, {days}, CASE WHEN s.i % 100 > 1 THEN {days} ELSE NULL END
         FROM s JOIN b ON b.k = s.i % (SELECT c FROM nb)"
    );
    conn.batch_execute(&sql).unwrap();
    if clocks {
        let plus = if postgres { "({t} + interval '{d}')" } else { "strftime('%Y-%m-%d %H:%M:%f', {t}, '+{d}')" };
        // An open ticket's resolution clock runs to the deadline its row was given.
        let future = "due_at";
        // Clock k of a ticket: the ticket's id with its second group set to 000k.
        let id = |k: u8| format!("replace(id, '-0000-7000-', '-000{k}-7000-')");
        let at = |t: &str, d: &str| plus.replace("{t}", t).replace("{d}", d);
        let cols = "id, ticket_id, stage, holder_unit_id, holder_path, calendar, limit_text, started_at, warn_at, due_at, \
                    original_due_at, reminders, paused_seconds, stopped_at, next_fire_at, fire_seq";
        conn.batch_execute(&format!(
            "INSERT INTO sla_clocks ({cols})
             SELECT {}, id, 'compound_triage', compound_id, place_path, 'cn', '2 working_days', created_at, {}, {}, {}, 0, 0, {}, NULL, 0
             FROM tickets",
            id(1),
            at("created_at", "1 days"),
            at("created_at", "2 days"),
            at("created_at", "2 days"),
            at("created_at", "1 hours"),
        ))
        .unwrap();
        conn.batch_execute(&format!(
            "INSERT INTO sla_clocks ({cols})
             SELECT {}, id, 'resolution', compound_id, place_path, 'cn', '5 working_days', {started},
                    CASE WHEN state = 'compound_handling' THEN {future} ELSE {warn} END,
                    CASE WHEN state = 'compound_handling' THEN {future} ELSE {due} END,
                    CASE WHEN state = 'compound_handling' THEN {future} ELSE {due} END,
                    0, 0,
                    CASE WHEN state = 'compound_handling' THEN NULL ELSE {stopped} END,
                    CASE WHEN state = 'compound_handling' THEN {future} ELSE NULL END, 0
             FROM tickets",
            id(2),
            started = at("created_at", "1 hours"),
            warn = at("created_at", "4 days"),
            due = at("created_at", "5 days"),
            stopped = at("created_at", "3 days"),
        ))
        .unwrap();
    }
    if postgres {
        // As autovacuum would have done on a table of this size: statistics, and the visibility map
        // that lets index-only scans skip the table.
        conn.batch_execute("VACUUM ANALYZE").unwrap();
        // And write back what the seed and the vacuum dirtied now, so that the measured phases
        // do not share the disk and CPU with the seed's own checkpoint (on a live system a
        // million rows never arrive in one minute).
        conn.batch_execute("CHECKPOINT").unwrap();
    }
    println!("seeded {n} historic tickets{} in {:.1} s", if clocks { " and their clocks" } else { "" }, started.elapsed().as_secs_f64());
}

pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

pub fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let get = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (get("VmRSS:"), get("VmHWM:"))
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub fn start_server(url: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gridloop"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("GRIDLOOP_ENV", "development")
        .env("GRIDLOOP_LOG__LEVEL", "warn")
        .env("GRIDLOOP_DATABASE__POOL_SIZE", std::env::var("BENCH_POOL").unwrap_or_else(|_| "16".into()))
        .args(["--database-url", url, "serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let port = loop {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "server exited");
        if let Some(rest) = line.split("listening on port ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    Server { child, base: format!("http://127.0.0.1:{port}") }
}
