//! The delivery worker (投递): claims due deliveries from the outbox in batches, sends them — mail
//! through lettre's pooled async SMTP transport, WeCom and DingTalk group robots and signed
//! webhooks over HTTP — a few at a time, and records each try (`app::notifications::settle`).
//! It runs on a thread of its own, polling every `notify.poll_interval_ms`, with its own small
//! tokio runtime for the I/O. Delivery is at least once (a worker killed between sending and
//! marking sends again after its claim runs out); each message carries its delivery's id for the
//! receiver to deduplicate on: the mail's `Message-ID`, the webhook's `X-Gridloop-Delivery`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{Duration, NaiveDateTime};
use futures_util::stream::{self, StreamExt};
use hmac::{Hmac, Mac};
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sha2::Sha256;

use crate::app::calendars::Calendars;
use crate::app::notifications::{self, Outgoing, Tried};
use crate::app::{AppError, AppResult};
use crate::config::NotifySettings;
use crate::db::{backend, DbConn};
use crate::domain::notify::DeliveryChannel;

use super::{Outcome, Task};

/// How long a claim holds its deliveries: the longest a batch may take to send — its rounds of
/// `concurrency` sends, each bounded by `timeout_s` — and a margin. A server killed mid-batch
/// leaves its deliveries claimed this long; then another server sends them (at least once: the
/// receiver dedupes on the delivery's id). 160 s with the defaults (200, 16, 10 s); it was a
/// fixed 300 s until the kill drill showed the wait (#21).
pub fn hold_seconds(s: &NotifySettings) -> i64 {
    let batch = s.batch.max(1);
    let rounds = (batch + s.concurrency.max(1) as i64 - 1) / s.concurrency.max(1) as i64;
    rounds * s.timeout_s as i64 + 30
}

/// The senders of every channel, built once from the settings.
pub struct Senders {
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    http: reqwest::Client,
    settings: NotifySettings,
}

impl Senders {
    /// Builds the senders; a bad `smtp_url` is the operator's mistake, said at start.
    pub fn new(settings: &NotifySettings) -> AppResult<Senders> {
        let smtp = if settings.smtp_url.trim().is_empty() {
            None
        } else {
            let mut b = AsyncSmtpTransport::<Tokio1Executor>::from_url(settings.smtp_url.trim())
                .map_err(|e| AppError::internal_msg(format!("notify.smtp_url: {e}")))?
                .timeout(Some(StdDuration::from_secs(settings.timeout_s)));
            if let Some(tls) = tls_with_ca(settings)? {
                b = b.tls(tls);
            }
            Some(b.build())
        };
        let http = reqwest::Client::builder()
            .timeout(StdDuration::from_secs(settings.timeout_s))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| AppError::internal_msg(format!("http client: {e}")))?;
        Ok(Senders { smtp, http, settings: settings.clone() })
    }

    /// Sends one message (several deliveries merged into one when a robot is at its rate limit).
    async fn send(&self, o: &Outgoing, merged: &[&Outgoing]) -> Tried {
        let r = match o.channel {
            DeliveryChannel::Email => self.email(o, merged).await,
            DeliveryChannel::Wecom => self.wecom(o, merged).await,
            DeliveryChannel::Dingtalk => self.dingtalk(o, merged).await,
            DeliveryChannel::Webhook if o.payload.is_some() => self.platform(o).await,
            DeliveryChannel::Webhook if o.to.starts_with("sms:") => self.sms(o).await,
            DeliveryChannel::Webhook => self.webhook(o).await,
            DeliveryChannel::InApp => Ok(()),
        };
        match r {
            Ok(()) => Tried::Sent,
            Err((retry, error)) => Tried::Failed { retry, error },
        }
    }

    fn link(&self, o: &Outgoing) -> Option<String> {
        // A resident or a platform is never sent a link into the staff's pages.
        if o.kind.addressed() {
            return None;
        }
        let base = self.settings.base_url.trim_end_matches('/');
        o.ticket_id.as_ref().filter(|_| !base.is_empty()).map(|id| format!("{base}/tickets/{id}"))
    }

    /// A mail: one notification, or the day's digest of several (the first one's id names it).
    async fn email(&self, o: &Outgoing, merged: &[&Outgoing]) -> Result<(), (bool, String)> {
        let Some(smtp) = &self.smtp else {
            return Err((false, "no SMTP server configured (notify.smtp_url)".into()));
        };
        let permanent = |e: String| (false, e);
        let from: Mailbox = self.settings.from.parse().map_err(|e| permanent(format!("notify.from: {e}")))?;
        let to = Mailbox::new(o.to_name.clone(), o.to.parse().map_err(|e| permanent(format!("recipient address: {e}")))?);
        let (subject, plain, html) = if merged.len() > 1 {
            self.digest_text(o.lang, merged)
        } else {
            let link = self.link(o);
            let plain = match &link {
                Some(l) => format!("{}\n\n{l}\n", o.body),
                None => format!("{}\n", o.body),
            };
            let html = render_html(&o.subject, &[(o.body.as_str(), link.as_deref())]);
            (o.subject.clone(), plain, html)
        };
        let host = self.settings.message_id_domain();
        let mut b = Message::builder().from(from).to(to).subject(subject).message_id(Some(format!("<{}@{host}>", o.id)));
        if !self.settings.reply_to.trim().is_empty() {
            b = b.reply_to(self.settings.reply_to.parse().map_err(|e| permanent(format!("notify.reply_to: {e}")))?);
        }
        let message = b
            .multipart(
                MultiPart::alternative()
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(plain))
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(html)),
            )
            .map_err(|e| permanent(format!("message: {e}")))?;
        smtp.send(message).await.map(|_| ()).map_err(|e| {
            // A refusal of the message itself (5xx) will not change; anything else may.
            (!e.is_permanent(), format!("smtp: {e}"))
        })
    }

    async fn post_json(&self, url: &str, body: &serde_json::Value, headers: &[(&str, String)]) -> Result<String, (bool, String)> {
        let mut req = self.http.post(url).header("Content-Type", "application/json").body(body.to_string());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let r = req.send().await.map_err(|e| (true, format!("http: {e}")))?;
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        if status.is_success() {
            Ok(text)
        } else {
            // 429 and 5xx may pass; other 4xx say the request itself is wrong.
            let retry = status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408;
            Err((retry, format!("http {status}: {}", text.chars().take(200).collect::<String>())))
        }
    }

    /// The daily digest's subject, plain text and HTML: each notification's subject, text and link.
    fn digest_text(&self, lang: crate::i18n::Lang, merged: &[&Outgoing]) -> (String, String, String) {
        let count = merged.len() as i64;
        let subject = crate::i18n::render(lang, &crate::msg!("notice-digest-subject", count = count));
        let head = crate::i18n::render(lang, &crate::msg!("notice-digest-head", count = count));
        let links: Vec<Option<String>> = merged.iter().map(|m| self.link(m)).collect();
        let mut plain = format!("{head}\n");
        for (m, l) in merged.iter().zip(&links) {
            plain.push_str(&format!("\n· {}\n  {}\n", m.subject, m.body));
            if let Some(l) = l {
                plain.push_str(&format!("  {l}\n"));
            }
        }
        let items: Vec<(&str, Option<&str>)> = merged.iter().zip(&links).map(|(m, l)| (m.body.as_str(), l.as_deref())).collect();
        (subject.clone(), plain, render_html(&subject, &items))
    }

    /// The text a group robot posts: one notification, or several merged.
    fn robot_text(&self, o: &Outgoing, merged: &[&Outgoing]) -> String {
        if merged.len() <= 1 {
            return match self.link(o) {
                Some(l) => format!("{}\n{}\n{l}", o.subject, o.body),
                None => format!("{}\n{}", o.subject, o.body),
            };
        }
        let lines: Vec<String> = merged.iter().map(|m| format!("· {}", m.subject)).collect();
        let head = crate::i18n::render(o.lang, &crate::msg!("notice-merged", count = merged.len() as i64));
        format!("{head}\n{}", lines.join("\n"))
    }

    /// A WeCom (企业微信) group robot: `{"msgtype":"text","text":{"content":…}}`; `errcode` 0 is taken.
    async fn wecom(&self, o: &Outgoing, merged: &[&Outgoing]) -> Result<(), (bool, String)> {
        let body = serde_json::json!({"msgtype": "text", "text": {"content": self.robot_text(o, merged)}});
        robot_answer(&self.post_json(&o.to, &body, &[]).await?)
    }

    /// A DingTalk (钉钉) group robot, signed: the URL carries `timestamp` (ms) and `sign`, the
    /// Base64 of HMAC-SHA256 over "timestamp\nsecret" keyed by the secret.
    async fn dingtalk(&self, o: &Outgoing, merged: &[&Outgoing]) -> Result<(), (bool, String)> {
        let body = serde_json::json!({"msgtype": "text", "text": {"content": self.robot_text(o, merged)}});
        let url = match &o.secret {
            Some(secret) => {
                let ts = chrono::Utc::now().timestamp_millis();
                let sign = dingtalk_sign(secret, ts);
                let sep = if o.to.contains('?') { '&' } else { '?' };
                format!("{}{sep}timestamp={ts}&sign={}", o.to, url::form_urlencoded::byte_serialize(sign.as_bytes()).collect::<String>())
            }
            None => o.to.clone(),
        };
        robot_answer(&self.post_json(&url, &body, &[]).await?)
    }

    /// A generic webhook: the notification as JSON, with `X-Gridloop-Delivery` (the delivery's
    /// id, stable across retries), `X-Gridloop-Timestamp` (Unix seconds) and, with a secret,
    /// `X-Gridloop-Signature: sha256=<hex HMAC-SHA256 of "timestamp.body">`.
    async fn webhook(&self, o: &Outgoing) -> Result<(), (bool, String)> {
        let body = serde_json::json!({
            "delivery_id": o.id,
            "notification_id": o.notification_id,
            "kind": o.kind,
            "urgent": o.urgent,
            "ticket_id": o.ticket_id,
            "ticket_url": self.link(o),
            "subject": o.subject,
            "text": o.body,
            "created_at": crate::app::rfc3339::format(&o.created_at),
        });
        let ts = chrono::Utc::now().timestamp().to_string();
        let mut headers = vec![("X-Gridloop-Delivery", o.id.clone()), ("X-Gridloop-Timestamp", ts.clone())];
        if let Some(secret) = &o.secret {
            headers.push(("X-Gridloop-Signature", format!("sha256={}", webhook_signature(secret, &ts, &body.to_string()))));
        }
        self.post_json(&o.to, &body, &headers).await.map(|_| ())
    }

    /// Signs and posts `body` as every webhook is: `X-Gridloop-Delivery`, `X-Gridloop-Timestamp`
    /// and, with a secret, `X-Gridloop-Signature`.
    async fn post_signed(&self, url: &str, delivery: &str, secret: Option<&str>, body: &serde_json::Value) -> Result<(), (bool, String)> {
        let ts = chrono::Utc::now().timestamp().to_string();
        let mut headers = vec![("X-Gridloop-Delivery", delivery.to_string()), ("X-Gridloop-Timestamp", ts.clone())];
        if let Some(secret) = secret.filter(|s| !s.is_empty()) {
            headers.push(("X-Gridloop-Signature", format!("sha256={}", webhook_signature(secret, &ts, &body.to_string()))));
        }
        self.post_json(url, body, &headers).await.map(|_| ())
    }

    /// A status push to the 12345 platform (decision 0032): the status as recorded with the
    /// action, and the delivery's id to deduplicate on (sent at least once).
    async fn platform(&self, o: &Outgoing) -> Result<(), (bool, String)> {
        let mut body = o.payload.clone().unwrap_or_default();
        if let Some(m) = body.as_object_mut() {
            m.insert("delivery_id".into(), o.id.clone().into());
        }
        self.post_signed(&o.to, &o.id, o.secret.as_deref(), &body).await
    }

    /// A resident's status link by SMS, through the configured gateway.
    async fn sms(&self, o: &Outgoing) -> Result<(), (bool, String)> {
        let url = self.settings.sms_gateway_url.trim();
        if url.is_empty() {
            return Err((false, "no SMS gateway configured (notify.sms_gateway_url)".into()));
        }
        let body = serde_json::json!({"delivery_id": o.id, "mobile": o.to.trim_start_matches("sms:"), "text": o.body});
        self.post_signed(url, &o.id, Some(self.settings.sms_gateway_secret.as_str()), &body).await
    }
}

/// The TLS of the SMTP URL, trusting `notify.smtp_ca_file` besides the public roots; `None` when
/// no CA file is set (the URL's own TLS stands) or the URL asks for no TLS.
fn tls_with_ca(settings: &NotifySettings) -> AppResult<Option<lettre::transport::smtp::client::Tls>> {
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    let path = settings.smtp_ca_file.trim();
    if path.is_empty() {
        return Ok(None);
    }
    let bad = |e: String| AppError::internal_msg(format!("notify.smtp_ca_file: {e}"));
    let url = url::Url::parse(settings.smtp_url.trim()).map_err(|e| AppError::internal_msg(format!("notify.smtp_url: {e}")))?;
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_string();
    let pem = std::fs::read(path).map_err(|e| bad(format!("{path}: {e}")))?;
    let cert = Certificate::from_pem(&pem).map_err(|e| bad(format!("{path}: {e}")))?;
    let params = TlsParameters::builder(host).add_root_certificate(cert).build_rustls().map_err(|e| bad(e.to_string()))?;
    let mode = url.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned());
    Ok(match (url.scheme(), mode.as_deref()) {
        ("smtps", _) => Some(Tls::Wrapper(params)),
        (_, Some("required")) => Some(Tls::Required(params)),
        (_, Some("opportunistic")) => Some(Tls::Opportunistic(params)),
        _ => None,
    })
}

/// A robot answers 200 with `{"errcode":0}` when it took the message; another code is refused
/// (45009 / 130101 are the platforms' rate limits: worth another try).
fn robot_answer(text: &str) -> Result<(), (bool, String)> {
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    match v.get("errcode").and_then(|c| c.as_i64()) {
        Some(0) | None => Ok(()),
        Some(code) => Err((matches!(code, 45009 | 130101), format!("robot errcode {code}: {}", v["errmsg"].as_str().unwrap_or("")))),
    }
}

/// DingTalk's signature of a timestamp.
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    use base64::Engine;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{timestamp_ms}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A webhook's signature: hex HMAC-SHA256 of "timestamp.body".
pub fn webhook_signature(secret: &str, timestamp: &str, body: &str) -> String {
    notifications::webhook_signature_bytes(secret, timestamp, body.as_bytes())
}

/// The HTML part of a mail: the subject, and each text with its link, escaped.
fn render_html(subject: &str, items: &[(&str, Option<&str>)]) -> String {
    let e = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let mut body = String::new();
    for (text, link) in items {
        body.push_str(&format!("<p>{}</p>", e(text)));
        if let Some(l) = link {
            body.push_str(&format!("<p><a href=\"{0}\">{0}</a></p>", e(l)));
        }
    }
    format!("<!doctype html><html><body><h3>{}</h3>{body}</body></html>", e(subject))
}

/// The worker's task: claim, send, settle, until the queue has nothing due (or a round has taken
/// long enough: the next poll goes on). Its runtime and senders are made on the worker's thread,
/// at the first run (a runtime cannot be entered from inside the server's).
pub struct Deliveries {
    settings: NotifySettings,
    pub calendars: Calendars,
    io: Option<(tokio::runtime::Runtime, Arc<Senders>)>,
}

impl Deliveries {
    pub fn new(settings: &NotifySettings, calendars: Calendars) -> Deliveries {
        Deliveries { settings: settings.clone(), calendars, io: None }
    }

    fn io(&mut self) -> AppResult<(&tokio::runtime::Runtime, Arc<Senders>)> {
        if self.io.is_none() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| AppError::internal_msg(format!("delivery runtime: {e}")))?;
            let senders = {
                let _inside = runtime.enter();
                Senders::new(&self.settings)?
            };
            self.io = Some((runtime, Arc::new(senders)));
        }
        let (rt, senders) = self.io.as_ref().expect("made above");
        Ok((rt, senders.clone()))
    }

    /// One batch: what was claimed and how each try went.
    pub fn run_batch(&mut self, conn: &mut DbConn, now: NaiveDateTime) -> AppResult<(usize, notifications::Settled, usize)> {
        let s = self.settings.clone();
        let calendar = self.calendars.default_calendar();
        // One transaction on both back ends: on PostgreSQL the claim's row locks (FOR UPDATE SKIP
        // LOCKED) must hold until the rows say `sending`, or another instance claims them too.
        let claimed = backend::immediate_transaction(conn, |c| {
            notifications::claim(c, &calendar, now, s.batch, Duration::seconds(hold_seconds(&s)))
        })?;
        let n = claimed.outgoing.len();
        if n == 0 {
            return Ok((0, notifications::Settled::default(), claimed.deferred + claimed.undeliverable));
        }
        // Robots: at most `robot_per_minute` messages a minute each; the rest of a batch for a
        // robot at its limit is merged into one message (or waits a minute when none is left).
        let robots: Vec<&str> = claimed
            .outgoing
            .iter()
            .filter(|o| matches!(o.channel, DeliveryChannel::Wecom | DeliveryChannel::Dingtalk))
            .filter_map(|o| o.endpoint_id.as_deref())
            .collect();
        let recent = notifications::sending::sent_since(conn, &robots, now - Duration::seconds(60))?;
        let plan = plan_messages(&claimed.outgoing, &recent, s.robot_per_minute as i64, now);
        let concurrency = s.concurrency.max(1);
        let (runtime, senders) = self.io()?;
        let results: Vec<(Vec<usize>, Tried)> = runtime.block_on(async {
            stream::iter(plan)
                .map(|m| {
                    let senders = senders.clone();
                    let outgoing = &claimed.outgoing;
                    async move {
                        match m {
                            Planned::Later(ix, at) => (ix, Tried::Later(at)),
                            Planned::Send(ix) => {
                                let group: Vec<&Outgoing> = ix.iter().map(|i| &outgoing[*i]).collect();
                                let tried = senders.send(group[0], &group).await;
                                (ix, tried)
                            }
                        }
                    }
                })
                .buffer_unordered(concurrency)
                .collect()
                .await
        });
        let outgoing = &claimed.outgoing;
        let mut tries: Vec<(&Outgoing, Tried)> = vec![];
        for (ix, t) in &results {
            tries.extend(ix.iter().map(|i| (&outgoing[*i], t.clone())));
        }
        let settled = backend::immediate_transaction(conn, |c| {
            let mut jitter = || rand_unit();
            notifications::settle(c, &tries, now, &mut jitter)
        })?;
        let m = crate::metrics::get();
        for (o, t) in &tries {
            let outcome = match t {
                Tried::Sent => "sent",
                Tried::Failed { retry: true, .. } => "failed_retrying",
                Tried::Failed { retry: false, .. } => "failed",
                Tried::Later(_) => "put_off",
            };
            m.delivery(o.channel.as_str(), outcome);
        }
        Ok((n, settled, claimed.deferred + claimed.undeliverable))
    }
}

impl Drop for Deliveries {
    /// The SMTP pool says goodbye to its connections on a task of the runtime: drop it inside.
    fn drop(&mut self) {
        if let Some((runtime, senders)) = self.io.take() {
            {
                let _inside = runtime.enter();
                drop(senders);
            }
            runtime.shutdown_timeout(StdDuration::from_millis(200));
        }
    }
}

/// A message to send (the indexes of the deliveries it carries), or deliveries to put off.
enum Planned {
    Send(Vec<usize>),
    Later(Vec<usize>, NaiveDateTime),
}

/// Groups a batch into messages: one per delivery, except a robot's beyond its minute's budget,
/// which go as one merged message (or wait a minute when the budget is spent).
fn plan_messages(out: &[Outgoing], recent: &HashMap<String, i64>, per_minute: i64, now: NaiveDateTime) -> Vec<Planned> {
    let mut plan = vec![];
    let mut by_robot: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut digests: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, o) in out.iter().enumerate() {
        match (o.channel, o.endpoint_id.as_deref()) {
            (DeliveryChannel::Wecom | DeliveryChannel::Dingtalk, Some(e)) => by_robot.entry(e).or_default().push(i),
            // A person's digest deliveries due together go as one mail.
            (DeliveryChannel::Email, _) if o.digest => digests.entry(o.to.as_str()).or_default().push(i),
            _ => plan.push(Planned::Send(vec![i])),
        }
    }
    plan.extend(digests.into_values().map(Planned::Send));
    for (e, ix) in by_robot {
        let budget = (per_minute - recent.get(e).copied().unwrap_or(0)).max(0) as usize;
        if budget == 0 {
            plan.push(Planned::Later(ix, now + Duration::seconds(60)));
        } else if ix.len() <= budget {
            plan.extend(ix.into_iter().map(|i| Planned::Send(vec![i])));
        } else {
            let (single, rest) = ix.split_at(budget - 1);
            plan.extend(single.iter().map(|i| Planned::Send(vec![*i])));
            plan.push(Planned::Send(rest.to_vec()));
        }
    }
    plan
}

/// A number in 0.0–1.0 for the retry jitter.
fn rand_unit() -> f64 {
    rand::random::<f64>()
}

impl Task for Deliveries {
    fn name(&self) -> &'static str {
        "deliveries"
    }

    fn run_once(&mut self, conn: &mut DbConn, now: NaiveDateTime) -> AppResult<Outcome> {
        let started = std::time::Instant::now();
        let (mut sent, mut retrying, mut failed, mut put_off) = (0, 0, 0, 0);
        loop {
            let (n, s, other) = self.run_batch(conn, now)?;
            sent += s.sent;
            retrying += s.retrying;
            failed += s.failed;
            put_off += s.later + other;
            if n < self.settings.batch as usize || started.elapsed() > StdDuration::from_secs(20) {
                break;
            }
        }
        Ok(Outcome::did(
            sent + failed + retrying,
            format!("{sent} sent, {retrying} to retry, {failed} failed, {put_off} put off (quiet hours, rate limits, no address)"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_holds_as_long_as_its_batch_can_take_and_no_longer() {
        let mut s = crate::config::Settings::load(&std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"), "development")
            .unwrap()
            .notify;
        (s.batch, s.concurrency, s.timeout_s) = (200, 16, 10);
        assert_eq!(hold_seconds(&s), 13 * 10 + 30, "13 rounds of 16 sends of at most 10 s");
        (s.batch, s.concurrency, s.timeout_s) = (16, 16, 10);
        assert_eq!(hold_seconds(&s), 40);
        (s.batch, s.concurrency, s.timeout_s) = (1, 1, 300);
        assert_eq!(hold_seconds(&s), 330);
    }

    #[test]
    fn dingtalk_signs_as_its_documentation_shows() {
        // HMAC-SHA256("1700000000000\nSECxyz", key "SECxyz") in Base64, as Python's hmac module
        // computes it.
        let s = dingtalk_sign("SECxyz", 1_700_000_000_000);
        assert_eq!(s, "0PUR1j8g85Xg3vlFV/UrEcxXfF5HpCAGzcjrNfyJoyg=");
        assert_ne!(s, dingtalk_sign("SECxyz", 1_700_000_000_001), "the timestamp is signed");
    }

    #[test]
    fn a_webhook_signature_covers_the_timestamp_and_the_body() {
        let a = webhook_signature("k", "1", "{}");
        // Python: hmac.new(b"k", b"1.{}", hashlib.sha256).hexdigest()
        assert_eq!(a, "3dd49b2593d0f9a349e9e71c4bde3e2b862c2be4003fe9b4ba81332029310158");
        assert_ne!(a, webhook_signature("k", "2", "{}"));
        assert_ne!(a, webhook_signature("k", "1", "{ }"));
        assert_ne!(a, webhook_signature("j", "1", "{}"));
    }

    fn robot(id: &str, endpoint: &str) -> Outgoing {
        Outgoing {
            id: id.into(),
            channel: DeliveryChannel::Wecom,
            kind: crate::domain::notify::NoticeKind::SlaWarning,
            urgent: false,
            attempt: 1,
            ticket_id: None,
            subject: format!("subject {id}"),
            body: String::new(),
            lang: crate::i18n::Lang::Zh,
            to: "http://robot".into(),
            to_name: None,
            secret: None,
            endpoint_id: Some(endpoint.into()),
            notification_id: id.into(),
            created_at: chrono::NaiveDateTime::default(),
            digest: false,
            payload: None,
        }
    }

    #[test]
    fn a_robot_past_its_minutes_budget_gets_the_rest_merged_into_one_message_or_waits() {
        let out: Vec<Outgoing> = (0..6).map(|i| robot(&i.to_string(), "r1")).chain([robot("x", "r2")]).collect();
        let now = chrono::NaiveDateTime::default();
        let recent: HashMap<String, i64> = [("r1".to_string(), 17), ("r2".to_string(), 20)].into();
        let plan = plan_messages(&out, &recent, 20, now);
        let sends: Vec<&Vec<usize>> = plan.iter().filter_map(|p| if let Planned::Send(ix) = p { Some(ix) } else { None }).collect();
        // r1 may send 3 more: two single messages and one carrying the other four.
        assert_eq!(sends.len(), 3);
        assert_eq!(sends.iter().map(|ix| ix.len()).sum::<usize>(), 6);
        assert!(sends.iter().any(|ix| ix.len() == 4));
        // r2 has spent its minute: its delivery waits a minute, the try not counted.
        assert!(plan.iter().any(|p| matches!(p, Planned::Later(ix, at) if ix == &vec![6] && *at == now + Duration::seconds(60))));
        let s = Senders { smtp: None, http: reqwest::Client::new(), settings: NotifySettings::default() };
        let merged: Vec<&Outgoing> = out[..4].iter().collect();
        let text = s.robot_text(&out[0], &merged);
        assert!(text.starts_with("合并发送 4 条通知") && text.contains("subject 3"), "{text}");
    }

    #[test]
    fn html_of_a_mail_escapes_what_people_typed() {
        let h = render_html("<b>x</b>", &[("a & b <script>", Some("http://h/tickets/1?a=\"b\""))]);
        assert!(!h.contains("<script>") && h.contains("&lt;script&gt;") && h.contains("&amp;") && h.contains("&quot;b&quot;"));
    }
}
