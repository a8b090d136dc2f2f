//! The catalogues are complete and in their language: both have the same entries, every key the
//! code names is in both, every error code and every name of the domain has its message, and no
//! zh-CN message carries English words (only codes, field names and protocol tokens).

use std::collections::BTreeSet;

use super::*;

/// The entries of one language, from all its files.
fn entries(lang: Lang) -> Vec<(String, String)> {
    let mut out = vec![];
    for (file, source) in lang.sources() {
        let mut current: Option<(String, String)> = None;
        for line in source.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if line.starts_with(' ') || line.starts_with('}') {
                // A continuation line (a selector's variants).
                if let Some((_, v)) = current.as_mut() {
                    v.push('\n');
                    v.push_str(line);
                }
                continue;
            }
            if let Some(done) = current.take() {
                out.push(done);
            }
            let (k, v) = line.split_once(" = ").unwrap_or_else(|| panic!("{}/{file}: not an entry: {line}", lang.tag()));
            current = Some((k.trim().to_string(), v.to_string()));
        }
        out.extend(current);
    }
    out
}

fn keys(lang: Lang) -> BTreeSet<String> {
    entries(lang).into_iter().map(|(k, _)| k).collect()
}

#[test]
fn both_catalogues_have_the_same_entries() {
    let (zh, en) = (keys(Lang::Zh), keys(Lang::En));
    let only_zh: Vec<&String> = zh.difference(&en).collect();
    let only_en: Vec<&String> = en.difference(&zh).collect();
    assert!(only_zh.is_empty() && only_en.is_empty(), "only in zh-CN: {only_zh:?}; only in en: {only_en:?}");
    for lang in Lang::ALL {
        for k in keys(lang) {
            assert!(has(lang, &k), "{} does not load {k}", lang.tag());
        }
    }
}

/// Every catalogue key named in the source: `msg!("…")`, `Msg::new("…")`, `Arg::Key("…")`, and
/// key literals of the message families.
fn keys_in_code() -> BTreeSet<String> {
    let families = [
        "error-",
        "rule-",
        "why-",
        "entity-",
        "schedule-",
        "bad-",
        "taker-",
        "import-",
        "calendar-",
        // The pages' words (pages.ftl), named in handlers and templates.
        "app-",
        "nav-",
        "login-",
        "page-",
        "time-",
        "urgency-",
        "field-",
        "ruling-",
        "ticket-",
        "event-",
        "day-",
        "mine-",
        "board-",
        "log-",
        "loop-",
        "inbox-",
        "search-",
        "list-",
        "household-",
        "notices-",
        "notice-",
        // Rankings and their spreadsheets (reports.ftl).
        "rank-",
        "xlsx-",
        // The visit-log and supervision ledgers and the visit-work ranking (ledgers.ftl).
        "ledger-",
    ];
    let mut found = BTreeSet::new();
    let mut stack = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|e| e != "rs" && e != "html") {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            for piece in text.split('"').skip(1).step_by(2) {
                let is_key = !piece.is_empty() && piece.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if is_key && families.iter().any(|f| piece.starts_with(f) && piece.len() > f.len()) {
                    found.insert(piece.to_string());
                }
            }
        }
    }
    found
}

#[test]
fn every_key_the_code_names_is_in_both_catalogues() {
    let used = keys_in_code();
    assert!(used.len() > 100, "the scan found too few keys: {}", used.len());
    for lang in Lang::ALL {
        let missing: Vec<&String> = used.iter().filter(|k| !has(lang, k)).collect();
        assert!(missing.is_empty(), "{} lacks {missing:?}", lang.tag());
    }
}

#[test]
fn every_error_code_and_every_name_of_the_domain_has_its_message() {
    use crate::domain::workflow as w;
    let mut needed: Vec<String> = crate::app::error::CODES.iter().map(|c| format!("error-{c}")).collect();
    needed.extend(crate::app::error::ENTITIES.iter().map(|e| crate::app::error::entity_key(e).to_string()));
    needed.extend(w::TicketState::ALL.iter().map(|x| x.label_key().to_string()));
    needed.extend(w::ActionKind::ALL.iter().map(|x| x.label_key().to_string()));
    needed.extend(w::AssignmentState::ALL.iter().map(|x| x.label_key().to_string()));
    needed.extend(w::ReturnReason::ALL.iter().map(|x| x.label_key().to_string()));
    needed.extend(w::WhistleType::ALL.iter().map(|x| x.label_key().to_string()));
    needed.extend(w::Satisfaction::ALL.iter().map(|x| x.label_key().to_string()));
    needed.extend(w::Channel::ALL.iter().map(|x| x.label_key().to_string()));
    needed.extend(w::Level::ALL.iter().map(|x| x.label_key().to_string()));
    needed.extend(crate::domain::Role::ALL.iter().map(|x| x.label_key().to_string()));
    needed.extend(crate::domain::OrgKind::ALL.iter().map(|x| x.label_key().to_string()));
    needed.extend(crate::domain::sla::Stage::ALL.iter().map(|x| x.label_key().to_string()));
    use crate::domain::consult as c;
    needed.extend(c::Party::ALL.iter().map(|x| x.label_key().to_string()));
    needed.extend(c::ItemState::ALL.iter().map(|x| x.label_key().to_string()));
    needed.extend(c::Timeliness::ALL.iter().map(|x| x.label_key().to_string()));
    needed.extend(c::CandidateReason::ALL.iter().map(|x| x.label_key().to_string()));
    needed.extend(c::Verdict::ALL.iter().map(|x| x.label_key().to_string()));
    use crate::domain::calendar::ProblemKind as P;
    for p in [
        P::OutsideYear,
        P::ListedTwice,
        P::HolidayAndWorkday,
        P::WorkdayNotWeekend,
        P::LoneWeekendHoliday,
        P::NoHolidays,
        P::YearOutOfRange,
        P::NotADate,
    ] {
        needed.push(crate::app::error::schedule_problem("2027-01-01", 2027, p).key.to_string());
    }
    for lang in Lang::ALL {
        let missing: Vec<&String> = needed.iter().filter(|k| !has(lang, k)).collect();
        assert!(missing.is_empty(), "{} lacks {missing:?}", lang.tag());
    }
}

/// Tokens that may stand in a zh-CN message as they are: protocol names, formats, example values
/// a person types, and the command of a tool.
const VERBATIM: &[&str] = &[
    "If-Match",
    "ETag",
    "X-CSRF-Token",
    "Cookie",
    "Idempotency-Key",
    "Content-Type",
    "application/json",
    "JSON",
    "CSV UTF-8",
    "CSV",
    "UTF-8",
    "YYYY-MM-DD",
    "U+0000",
    "UUID",
    "http://",
    "https://",
    "ASCII",
    "gridloop org add",
    "anonymous: true",
    "visit",
    "normal",
    "urgent",
    "working_days",
    "working_hours",
    "working_minutes",
    "days",
    "hours",
    "minutes",
    "seconds",
    "errors",
    "problems",
    "ordinary",
    "disabled",
    "X",
    // The language switch names the other language in its own words.
    "English",
    // Image formats and sizes are written as such in Chinese too.
    "JPEG",
    "PNG",
    "WebP",
    "MB",
];

#[test]
fn no_zh_cn_message_carries_english_words() {
    for (k, v) in entries(Lang::Zh) {
        // Placeables ({ $x }, selectors) are filled in at run time.
        let mut text = String::new();
        let mut depth = 0;
        for c in v.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ if depth == 0 => text.push(c),
                _ => {}
            }
        }
        // Variant lines of a selector: `[0] …`, `*[other] …`.
        let text: String =
            text.lines().map(|l| l.trim_start().trim_start_matches('*')).map(|l| l.split_once(']').map(|x| x.1).unwrap_or(l)).collect();
        let mut rest = text.clone();
        for token in VERBATIM {
            rest = rest.replace(token, " ");
        }
        // Field names and codes (snake_case) are allowed.
        let words: Vec<&str> = rest
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.chars().any(|c| c.is_ascii_alphabetic()))
            .filter(|w| !w.contains('_'))
            .collect();
        assert!(words.is_empty(), "zh-CN {k} carries English words {words:?}: {v}");
    }
}

#[test]
fn messages_render_with_their_arguments_in_each_language() {
    let m = crate::msg!("rule-max_chars", max = 100);
    assert_eq!(render(Lang::Zh, &m), "最多 100 个字符");
    assert_eq!(render(Lang::En, &m), "must be at most 100 characters");
    let e = crate::app::AppError::validation("title", m);
    assert_eq!(e.message(Lang::Zh), "输入有误（title）：最多 100 个字符");
    let roles = crate::msg!("why-op_roles", what = Arg::Key("entity-ticket"))
        .with("roles", Arg::keys([crate::domain::Role::GridWorker.label_key(), crate::domain::Role::Admin.label_key()]));
    assert_eq!(render(Lang::Zh, &roles), "此操作需要对该诉求拥有以下角色之一：网格员、系统管理员");
    assert_eq!(render(Lang::En, &roles), "this needs one of the roles Grid worker, Administrator over this Ticket");
}
