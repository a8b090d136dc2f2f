//! The pages' stylesheet and script, embedded in the binary (`include_bytes!`: two small files
//! need no asset crate) and served under names that carry a hash of their content, so that a
//! browser may keep them for a year and still never runs yesterday's script after an upgrade.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use sha2::{Digest, Sha256};

struct Asset {
    url: String,
    body: &'static [u8],
    content_type: &'static str,
}

const CSS: &[u8] = include_bytes!("assets/app.css");
const JS: &[u8] = include_bytes!("assets/app.js");

fn assets() -> &'static [Asset; 2] {
    static ALL: OnceLock<[Asset; 2]> = OnceLock::new();
    ALL.get_or_init(|| {
        let named = |stem: &str, ext: &str, body: &'static [u8], content_type| {
            let hash = hex::encode(&Sha256::digest(body)[..6]);
            Asset { url: format!("/assets/{stem}.{hash}.{ext}"), body, content_type }
        };
        [named("app", "css", CSS, "text/css; charset=utf-8"), named("app", "js", JS, "text/javascript; charset=utf-8")]
    })
}

pub fn css_url() -> &'static str {
    &assets()[0].url
}

pub fn js_url() -> &'static str {
    &assets()[1].url
}

/// `GET /assets/{name}`: an embedded file by its hashed name; any other name is a 404.
pub async fn serve(name: web::Path<String>) -> HttpResponse {
    let wanted = format!("/assets/{}", name.into_inner());
    match assets().iter().find(|a| a.url == wanted) {
        Some(a) => HttpResponse::Ok()
            .content_type(a.content_type)
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .body(a.body),
        None => HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("not found"),
    }
}
