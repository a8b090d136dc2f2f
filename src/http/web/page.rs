//! What every page handler shares: the person and his language ([`Page`]), the layout's data
//! ([`Chrome`]), the translator templates call ([`Tr`]), forms read with their CSRF token checked
//! ([`Form`]), times in the calendar's zone, and errors rendered as pages ([`PageError`]).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use askama::Template;
use chrono::{NaiveDateTime, TimeZone};

use crate::app::auth::Authenticated;
use crate::app::{AppError, AppResult, Lang};
use crate::db::DbConn;
use crate::domain::text::Msg;
use crate::domain::{Grant, Role};
use crate::http::context::AppState;
use crate::http::error::status_of;
use crate::http::input::IdPath;

/// The cookie that remembers an anonymous visitor's language (a logged-in person's is stored).
pub const LANG_COOKIE: &str = "gl_lang";
/// The cookie that remembers which of his roles a person works in now (his home page and tabs).
pub const ROLE_COOKIE: &str = "gl_role";
/// The largest form body a page takes (a visit log with its requests).
const FORM_LIMIT: usize = 256 * 1024;

/// The language of a visitor who is not logged in: his cookie, else his browser's first choice.
pub fn anonymous_lang(req: &HttpRequest) -> Lang {
    match req.cookie(LANG_COOKIE) {
        Some(c) => Lang::from_locale(c.value()),
        None => crate::http::context::lang_of(req),
    }
}

/// The translator the templates call: `tr.t("key")`, `tr.label(key)`.
#[derive(Clone, Copy)]
pub struct Tr(pub Lang);

impl Tr {
    pub fn t(&self, key: &'static str) -> String {
        crate::i18n::text(self.0, key)
    }
    pub fn msg(&self, m: &Msg) -> String {
        crate::i18n::render(self.0, m)
    }
    pub fn tag(&self) -> &'static str {
        self.0.tag()
    }
}

/// A logged-in person on a page.
pub struct Page {
    pub who: Authenticated,
    pub lang: Lang,
    /// The grant he works in now (see [`ROLE_COOKIE`]).
    pub role: Option<Grant>,
    pub path: String,
}

impl Page {
    pub fn tr(&self) -> Tr {
        Tr(self.lang)
    }

    /// The entity id in the path, or the page of a missing `what` when the segment names none.
    pub fn id<T: Copy, const AT: usize>(&self, id: &IdPath<T, AT>, what: &'static str) -> Result<T, PageError> {
        id.found(what).map_err(|err| PageError { err, lang: self.lang })
    }

    /// The layout's data for a page titled by `title_key`.
    pub fn chrome(&self, title_key: &'static str) -> Chrome {
        let tr = self.tr();
        let roles = self
            .who
            .actor
            .grants
            .iter()
            .map(|g| RoleChoice {
                value: role_value(g),
                label: format!("{} · {}", tr.t(g.role.label_key()), tr.t(g.org_kind.label_key())),
                current: self.role.as_ref().is_some_and(|r| role_value(r) == role_value(g)),
            })
            .collect();
        Chrome {
            tr,
            title: tr.t(title_key),
            person: Some(self.who.display_name.clone()),
            csrf: self.who.csrf_token.clone(),
            roles,
            tabs: tabs(self.role.as_ref().map(|g| g.role), &self.path, tr),
            path: self.path.clone(),
        }
    }

    pub fn role_is(&self, role: Role) -> bool {
        self.role.as_ref().is_some_and(|g| g.role == role)
    }
}

fn role_value(g: &Grant) -> String {
    format!("{}:{}", g.role.as_str(), g.org_unit_id)
}

/// The grant a person works in: the one his cookie names, else his first by the roles' order.
pub fn current_role(who: &Authenticated, cookie: Option<&str>) -> Option<Grant> {
    let chosen = cookie.and_then(|c| who.actor.grants.iter().find(|g| role_value(g) == c));
    chosen.or_else(|| who.actor.grants.iter().min_by_key(|g| g.role)).cloned()
}

impl FromRequest for Page {
    type Error = PageError;
    type Future = std::future::Ready<Result<Self, PageError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let lang = anonymous_lang(req);
        std::future::ready(match req.extensions().get::<Authenticated>() {
            Some(who) => {
                let lang = Lang::from_locale(&who.locale);
                let role = current_role(who, req.cookie(ROLE_COOKIE).as_ref().map(|c| c.value()));
                let path = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
                Ok(Page { who: who.clone(), lang, role, path })
            }
            None => Err(PageError { err: AppError::Unauthenticated, lang }),
        })
    }
}

/// A visitor of a public page: the person if he is logged in, and the language to answer in.
pub struct Visitor {
    pub who: Option<Authenticated>,
    pub lang: Lang,
}

impl FromRequest for Visitor {
    type Error = PageError;
    type Future = std::future::Ready<Result<Self, PageError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let who = req.extensions().get::<Authenticated>().cloned();
        let lang = who.as_ref().map(|w| Lang::from_locale(&w.locale)).unwrap_or_else(|| anonymous_lang(req));
        std::future::ready(Ok(Visitor { who, lang }))
    }
}

/// One of the person's roles, for the switch in the top bar.
pub struct RoleChoice {
    pub value: String,
    pub label: String,
    pub current: bool,
}

/// A tab of the navigation under the top bar.
pub struct Tab {
    pub href: &'static str,
    pub label: String,
    pub current: bool,
}

fn tabs(role: Option<Role>, path: &str, tr: Tr) -> Vec<Tab> {
    let list: &[(&'static str, &'static str)] = match role {
        Some(Role::GridWorker) => {
            &[("/day", "nav-day"), ("/mine", "nav-mine"), ("/search", "nav-search"), ("/notifications", "nav-notifications")]
        }
        Some(Role::BranchSecretary) => &[
            ("/board", "nav-board"),
            ("/inbox", "nav-inbox"),
            ("/consultation", "nav-consultation"),
            ("/search", "nav-search"),
            ("/notifications", "nav-notifications"),
        ],
        Some(Role::CommunityStaff) => &[
            ("/inbox", "nav-inbox"),
            ("/oversight", "nav-oversight"),
            ("/rankings", "nav-rankings"),
            ("/rankings/visits", "ledger-nav"),
            ("/consultation", "nav-consultation"),
            ("/search", "nav-search"),
            ("/residents/import", "nav-residents"),
            ("/notifications", "nav-notifications"),
        ],
        Some(Role::Supervisor) => &[
            ("/oversight", "nav-supervision"),
            ("/rankings", "nav-rankings"),
            ("/rankings/visits", "ledger-nav"),
            ("/search", "nav-search"),
            ("/notifications", "nav-notifications"),
        ],
        Some(Role::Admin) => &[
            ("/admin/org", "nav-org"),
            ("/admin/people", "nav-people"),
            ("/admin/catalogue", "nav-catalogue"),
            ("/admin/calendars", "nav-calendars"),
            ("/channels", "nav-channels"),
            ("/admin/clients", "nav-clients"),
            ("/admin/personal-data", "nav-personal_data"),
            ("/search", "nav-search"),
            ("/notifications", "nav-notifications"),
        ],
        Some(Role::CommitteeRepresentative | Role::CompanyRepresentative) => {
            &[("/consultation", "nav-consultation"), ("/notifications", "nav-notifications")]
        }
        _ => &[("/inbox", "nav-inbox"), ("/search", "nav-search"), ("/notifications", "nav-notifications")],
    };
    let here = path.split('?').next().unwrap_or(path);
    list.iter().map(|(href, key)| Tab { href, label: tr.t(key), current: here == *href }).collect()
}

/// The data of the layout every page shares.
pub struct Chrome {
    pub tr: Tr,
    pub title: String,
    pub person: Option<String>,
    pub csrf: String,
    pub roles: Vec<RoleChoice>,
    pub tabs: Vec<Tab>,
    /// Where the language switch comes back to.
    pub path: String,
}

impl Chrome {
    /// For pages seen before logging in.
    pub fn anonymous(lang: Lang, title_key: &'static str, path: &str) -> Chrome {
        let tr = Tr(lang);
        Chrome { tr, title: tr.t(title_key), person: None, csrf: String::new(), roles: vec![], tabs: vec![], path: path.into() }
    }
    pub fn css(&self) -> &'static str {
        super::assets::css_url()
    }
    pub fn js(&self) -> &'static str {
        super::assets::js_url()
    }
    pub fn other_lang(&self) -> &'static str {
        match self.tr.0 {
            Lang::Zh => "en",
            Lang::En => "zh-CN",
        }
    }
}

/// A message shown above a page's content.
pub struct Flash {
    /// `ok`, `error` or `info`.
    pub kind: &'static str,
    pub text: String,
}

impl Flash {
    pub fn ok(text: String) -> Option<Flash> {
        Some(Flash { kind: "ok", text })
    }
    pub fn error(text: String) -> Option<Flash> {
        Some(Flash { kind: "error", text })
    }
}

/// The message a page shows after a form sent the person back to it (`?done=<code>`): the
/// catalogue key of its code in `known`, none for an unknown code.
pub fn done_flash(tr: Tr, done: Option<&str>, known: &[(&str, &'static str)]) -> Option<Flash> {
    let key = known.iter().find(|(code, _)| Some(*code) == done)?.1;
    Flash::ok(tr.t(key))
}

/// Renders a template as an HTML response with `status`.
pub fn html<T: Template>(status: StatusCode, t: &T) -> HttpResponse {
    match t.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
        Err(e) => {
            log::error!("a template failed to render: {e}");
            HttpResponse::InternalServerError().content_type("text/plain; charset=utf-8").body("template error")
        }
    }
}

/// A 303 to `to` (POST → redirect → GET).
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to.to_string())).finish()
}

/// A path inside this site to come back to, or `/`: never another host (`//evil`, `https:`).
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") && !n.contains(['\r', '\n']) => n.to_string(),
        _ => "/".to_string(),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorTemplate {
    c: Chrome,
    status: u16,
    message: String,
    back: Option<String>,
}

/// An error as a page in the person's language: the same status and words as the API's.
pub fn error_page(err: &AppError, lang: Lang, c: Option<Chrome>) -> HttpResponse {
    if matches!(err, AppError::Internal(_) | AppError::Unavailable(_) | AppError::Contention(_)) {
        // The cause goes to the log (never to the page), as in the API.
        let _ = crate::http::error::error_response(err, lang);
    }
    let status = status_of(err);
    let c = c.unwrap_or_else(|| Chrome::anonymous(lang, "error-title", "/"));
    let mut resp = html(status, &ErrorTemplate { c, status: status.as_u16(), message: err.message(lang), back: None });
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
    }
    resp
}

/// An error of a page handler, rendered as a page.
#[derive(Debug)]
pub struct PageError {
    pub err: AppError,
    pub lang: Lang,
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.err.code())
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        status_of(&self.err)
    }
    fn error_response(&self) -> HttpResponse {
        if matches!(self.err, AppError::Unauthenticated) {
            return super::guard::login_redirect("/");
        }
        error_page(&self.err, self.lang, None)
    }
}

/// Runs a use case off the async worker for a page (`context::run`, errors as pages).
pub async fn run<T, F>(state: &AppState, lang: Lang, f: F) -> Result<T, PageError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn) -> AppResult<T> + Send + 'static,
{
    crate::http::context::run(state, lang, f).await.map_err(|e| PageError { err: e.err, lang })
}

/// Like [`run`], for a heavy read of `person`'s: on the streaming replica when the rule of
/// bounded staleness allows it (see `http::context::run_report`).
pub async fn run_report<T, F>(state: &AppState, person: crate::domain::PersonId, lang: Lang, f: F) -> Result<T, PageError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn) -> AppResult<T> + Send + 'static,
{
    crate::http::context::run_report(state, person, lang, f).await.map_err(|e| PageError { err: e.err, lang })
}

/// Like [`run`], for commands that write (retried when the database breaks a deadlock).
pub async fn run_write<T, F>(state: &AppState, lang: Lang, f: F) -> Result<T, PageError>
where
    T: Send + 'static,
    F: FnMut(&mut DbConn) -> AppResult<T> + Send + 'static,
{
    crate::http::context::run_write(state, lang, f).await.map_err(|e| PageError { err: e.err, lang })
}

/// A file sent with a multipart form (a photo), as it came.
pub struct Upload {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// A submitted form: its fields in order (a name may repeat), read only after its CSRF token
/// (`_csrf`) matched the session's when a person is logged in. A multipart form (one with photos)
/// also carries its files; there the token must come first, and nothing after it is read
/// without it.
pub struct Form {
    pub fields: Vec<(String, String)>,
    pub files: Vec<Upload>,
}

impl Form {
    /// The first value of a field, trimmed; `None` when missing or blank.
    pub fn get(&self, name: &str) -> Option<String> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_string()).filter(|v| !v.is_empty())
    }
    /// Every non-blank value of a field.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.fields.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim().to_string()).filter(|v| !v.is_empty()).collect()
    }
    /// The raw value (untrimmed), to give back to the person after an error.
    pub fn raw(&self, name: &str) -> String {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
    }
    /// What follows `prefix` in the names of the fields that start with it, each once, in order
    /// (the codes of `score-<code>` fields).
    pub fn keys_with_prefix(&self, prefix: &str) -> Vec<String> {
        let mut keys: Vec<String> = vec![];
        for (k, _) in &self.fields {
            if let Some(rest) = k.strip_prefix(prefix) {
                if !keys.iter().any(|x| x == rest) {
                    keys.push(rest.to_string());
                }
            }
        }
        keys
    }
    /// The files sent under a name, in order.
    pub fn files<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Upload> + 'a {
        self.files.iter().filter(move |f| f.name == name)
    }
}

/// The most files one form may carry (a log with a few requests, a few photos each).
pub const FORM_FILES: usize = 12;

enum FormKind {
    UrlEncoded,
    Multipart,
}

impl FromRequest for Form {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PageError>>>>;
    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let who = req.extensions().get::<Authenticated>().cloned();
        let lang = who.as_ref().map(|w| Lang::from_locale(&w.locale)).unwrap_or_else(|| anonymous_lang(req));
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim_start().to_ascii_lowercase())
            .unwrap_or_default();
        let kind = if content_type.starts_with("application/x-www-form-urlencoded") {
            Some(FormKind::UrlEncoded)
        } else if content_type.starts_with("multipart/form-data") {
            Some(FormKind::Multipart)
        } else {
            None
        };
        let file_limit = req.app_data::<web::Data<AppState>>().map(|s| s.settings.photos.max_bytes).unwrap_or(FORM_LIMIT);
        let csrf = who.map(|w| w.csrf_token);
        let refuse = move |err: AppError| PageError { err, lang };
        match kind {
            None => Box::pin(async move { Err(refuse(AppError::validation("body", crate::msg!("page-form_expected")))) }),
            Some(FormKind::UrlEncoded) => {
                let body = web::Bytes::from_request(req, payload);
                Box::pin(async move {
                    let bytes = body.await.map_err(|_| refuse(AppError::validation("body", crate::msg!("page-form_expected"))))?;
                    if bytes.len() > FORM_LIMIT {
                        return Err(refuse(AppError::validation("body", crate::msg!("page-form_too_big"))));
                    }
                    let fields: Vec<(String, String)> = url::form_urlencoded::parse(&bytes).into_owned().collect();
                    if fields.iter().any(|(k, v)| k.contains('\0') || v.contains('\0')) {
                        return Err(refuse(AppError::validation("body", crate::msg!("page-nul"))));
                    }
                    if let Some(token) = &csrf {
                        let sent = fields.iter().find(|(k, _)| k == "_csrf").map(|(_, v)| v.as_str()).unwrap_or("");
                        if !crate::http::guard::constant_time_eq(sent.as_bytes(), token.as_bytes()) {
                            return Err(refuse(AppError::CsrfRejected));
                        }
                    }
                    Ok(Form { fields, files: vec![] })
                })
            }
            Some(FormKind::Multipart) => {
                let multipart = actix_multipart::Multipart::new(req.headers(), payload.take());
                Box::pin(async move { read_multipart(multipart, csrf, file_limit).await.map_err(refuse) })
            }
        }
    }
}

/// Reads a multipart form: text fields within [`FORM_LIMIT`] in all, at most [`FORM_FILES`] files
/// of `file_limit` bytes each (a part with a file name is a file; an empty one — no file chosen —
/// is skipped). When a token is expected, the first part must be `_csrf` and match.
async fn read_multipart(mut form: actix_multipart::Multipart, csrf: Option<String>, file_limit: usize) -> Result<Form, AppError> {
    use futures_util::StreamExt;
    let bad = || AppError::validation("body", crate::msg!("page-form_expected"));
    let (mut fields, mut files, mut text_bytes) = (vec![], vec![], 0usize);
    let mut token_ok = csrf.is_none();
    while let Some(part) = form.next().await {
        let mut part = part.map_err(|_| bad())?;
        let name = part.name().unwrap_or_default().to_string();
        let is_file = part.content_disposition().and_then(|d| d.get_filename()).is_some();
        if !token_ok && name != "_csrf" {
            return Err(AppError::CsrfRejected);
        }
        if is_file && files.len() >= FORM_FILES {
            return Err(AppError::validation("photos", crate::msg!("page-too_many_files", max = FORM_FILES)));
        }
        let limit = if is_file { file_limit } else { FORM_LIMIT - text_bytes.min(FORM_LIMIT) };
        let mut value = Vec::new();
        while let Some(chunk) = part.next().await {
            let chunk = chunk.map_err(|_| bad())?;
            if value.len() + chunk.len() > limit {
                return Err(if is_file {
                    AppError::PayloadTooLarge { limit: file_limit }
                } else {
                    AppError::validation("body", crate::msg!("page-form_too_big"))
                });
            }
            value.extend_from_slice(&chunk);
        }
        if is_file {
            if !value.is_empty() {
                files.push(Upload { name, bytes: value });
            }
            continue;
        }
        text_bytes += value.len();
        let value = String::from_utf8(value).map_err(|_| bad())?;
        if name.contains('\0') || value.contains('\0') {
            return Err(AppError::validation("body", crate::msg!("page-nul")));
        }
        if !token_ok {
            let expected = csrf.as_deref().unwrap_or_default();
            if !crate::http::guard::constant_time_eq(value.as_bytes(), expected.as_bytes()) {
                return Err(AppError::CsrfRejected);
            }
            token_ok = true;
        }
        fields.push((name, value));
    }
    if !token_ok {
        return Err(AppError::CsrfRejected);
    }
    Ok(Form { fields, files })
}

/// Times as people read them: in the working calendar's zone (China time), and relative to now
/// where that helps ("2小时后到期").
#[derive(Clone, Copy)]
pub struct Clock {
    pub now: NaiveDateTime,
    pub tz: chrono_tz::Tz,
    pub tr: Tr,
}

impl Clock {
    pub fn new(state: &AppState, tr: Tr) -> Clock {
        Clock { now: crate::app::utc_now(), tz: state.calendars.default_calendar().tz, tr }
    }
    /// `11-30 14:05` this year, `2025-11-30 14:05` another.
    /// The local time of day to the second ("23:26:10"), for figures counted moments ago.
    pub fn time_of(&self, t: &NaiveDateTime) -> String {
        self.tz.from_utc_datetime(t).format("%H:%M:%S").to_string()
    }

    pub fn at(&self, t: &NaiveDateTime) -> String {
        let local = self.tz.from_utc_datetime(t);
        let now = self.tz.from_utc_datetime(&self.now);
        if chrono::Datelike::year(&local) == chrono::Datelike::year(&now) {
            local.format("%m-%d %H:%M").to_string()
        } else {
            local.format("%Y-%m-%d %H:%M").to_string()
        }
    }
    pub fn at_opt(&self, t: &Option<NaiveDateTime>) -> String {
        t.as_ref().map(|t| self.at(t)).unwrap_or_default()
    }
    /// "due in 2 h" / "3 h overdue".
    pub fn due(&self, t: &NaiveDateTime) -> String {
        let mins = (*t - self.now).num_minutes();
        if mins >= 0 {
            self.tr.msg(&crate::msg!("time-due_in", span = span(mins)))
        } else {
            self.tr.msg(&crate::msg!("time-overdue_by", span = span(mins)))
        }
    }
    /// "3 h overdue", for a number of seconds past a deadline.
    pub fn overdue_by(&self, seconds: i64) -> String {
        self.tr.msg(&crate::msg!("time-overdue_by", span = span(seconds / 60)))
    }
    pub fn due_opt(&self, t: &Option<NaiveDateTime>) -> String {
        t.as_ref().map(|t| self.due(t)).unwrap_or_default()
    }
    /// A `datetime-local` value in the zone, for a form's default.
    pub fn input_value(&self, t: &NaiveDateTime) -> String {
        self.tz.from_utc_datetime(t).format("%Y-%m-%dT%H:%M").to_string()
    }
    /// The person's local `datetime-local` text as an instant in RFC 3339.
    pub fn from_input(&self, text: &str) -> Option<String> {
        let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M").ok()?;
        let local = self.tz.from_local_datetime(&naive).earliest()?;
        Some(local.to_rfc3339())
    }
    pub fn today(&self) -> chrono::NaiveDate {
        self.tz.from_utc_datetime(&self.now).date_naive()
    }
}

/// A span of minutes as people say it: minutes under an hour, hours under two days, else days.
fn span(m: i64) -> Msg {
    let m = m.abs();
    if m < 60 {
        crate::msg!("time-minutes", n = m.max(1))
    } else if m < 48 * 60 {
        crate::msg!("time-hours", n = m / 60)
    } else {
        crate::msg!("time-days", n = m / (24 * 60))
    }
}

/// Cleans photos off the request's thread (decoding is CPU work): each is checked, turned upright,
/// stripped of its metadata and given a thumbnail. The first that is not a photo refuses them all.
pub async fn clean_photos(state: &AppState, photos: Vec<Vec<u8>>, lang: Lang) -> Result<Vec<crate::app::photos::Cleaned>, PageError> {
    let settings = state.settings.photos.clone();
    web::block(move || photos.iter().map(|p| crate::app::photos::clean(p, &settings)).collect::<AppResult<Vec<_>>>())
        .await
        .map_err(|e| PageError { err: AppError::internal_msg(format!("blocking task failed: {e}")), lang })?
        .map_err(|err| PageError { err, lang })
}

/// The `{size}` of a page's photo address: `thumb` or `full`; anything else is no photo (404).
pub fn photo_size(size: &str, lang: Lang) -> Result<bool, PageError> {
    match size {
        "thumb" => Ok(true),
        "full" => Ok(false),
        _ => Err(PageError { err: AppError::NotFound { what: "photo" }, lang }),
    }
}

/// A photo for the person's browser (it may keep it an hour; nobody else may).
pub fn jpeg(bytes: Vec<u8>) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().content_type("image/jpeg").insert_header(("Cache-Control", "private, max-age=3600")).body(bytes)
}
