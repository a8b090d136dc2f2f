//! Photos of a ticket: cleaned (upright by EXIF, metadata gone, scaled), kept once per content,
//! shown only to those who may see the ticket, refused when too big or not a photo; the page's
//! upload form does the same.

use reqwest::StatusCode;
use serde_json::Value;

use crate::fixture::{spawn_fixture, spawn_fixture_configured, PASSWORD};
use crate::pages::PageClient;
use crate::tickets::{file, new_ticket};

/// A 40×20 JPEG (red left half, blue right) whose EXIF says "rotate 90°" and carries a
/// description standing for the place and device a phone writes.
pub fn phone_photo() -> Vec<u8> {
    let img = image::RgbImage::from_fn(40, 20, |x, _| if x < 20 { image::Rgb([220, 20, 20]) } else { image::Rgb([20, 20, 220]) });
    let mut jpeg = Vec::new();
    image::DynamicImage::ImageRgb8(img).write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).unwrap();
    let desc = b"SECRET-PLACE 31.77N 116.50E Phone-X\0";
    let mut tiff = vec![0x4D, 0x4D, 0x00, 0x2A, 0, 0, 0, 8, 0, 2];
    // ImageDescription (ASCII), its text after the IFD.
    tiff.extend_from_slice(&[0x01, 0x0E, 0x00, 0x02]);
    tiff.extend_from_slice(&(desc.len() as u32).to_be_bytes());
    tiff.extend_from_slice(&38u32.to_be_bytes());
    // Orientation = 6 (rotate 90° clockwise to show upright).
    tiff.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0, 0, 0, 1, 0x00, 0x06, 0, 0]);
    tiff.extend_from_slice(&[0, 0, 0, 0]);
    tiff.extend_from_slice(desc);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

async fn upload(app: &crate::helpers::TestApp, token: &str, ticket: &str, body: Vec<u8>, content_type: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/tickets/{ticket}/photos")))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn a_photo_is_turned_upright_stripped_of_its_metadata_and_kept_once() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let t = file(&app, &gw, &new_ticket(&fx)).await;
    let id = t["id"].as_str().unwrap();
    let original = phone_photo();
    assert!(contains(&original, b"SECRET-PLACE"), "the test photo carries its metadata");
    let r = upload(&app, &gw, id, original.clone(), "image/jpeg").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let p: Value = r.json().await.unwrap();
    assert_eq!((p["width"].as_i64(), p["height"].as_i64()), (Some(20), Some(40)), "turned upright: {p}");
    // The same photo again (a retry) is the same photo.
    let r = upload(&app, &gw, id, original, "image/jpeg").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], p["id"]);
    let list = app.get_ok(&format!("/api/v1/tickets/{id}/photos"), &gw).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    // What is served has no EXIF and no trace of the description, and shows red on top.
    let r = app.client.get(app.url(&format!("/api/v1/photos/{}", p["id"].as_str().unwrap()))).bearer_auth(&gw).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let served = r.bytes().await.unwrap().to_vec();
    assert!(!contains(&served, b"Exif") && !contains(&served, b"SECRET-PLACE"), "metadata stripped");
    let img = image::load_from_memory(&served).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (20, 40));
    let (top, bottom) = (img.get_pixel(10, 5), img.get_pixel(10, 35));
    assert!(top[0] > 150 && top[2] < 100 && bottom[2] > 150 && bottom[0] < 100, "rotated 90° clockwise: top {top:?}, bottom {bottom:?}");
    let thumb =
        app.client.get(app.url(&format!("/api/v1/photos/{}?size=thumb", p["id"].as_str().unwrap()))).bearer_auth(&gw).send().await.unwrap();
    assert_eq!(thumb.status(), StatusCode::OK);
    // A PNG is taken too (kept as JPEG).
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::new(8, 8))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let r = upload(&app, &gw, id, png, "image/png").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // The trail says who added a photo.
    let events = app.get_ok(&format!("/api/v1/tickets/{id}/timeline"), &gw).await;
    assert_eq!(events.as_array().unwrap().iter().filter(|e| e["action"] == "photo").count(), 2);
}

#[tokio::test]
async fn photos_are_seen_only_with_their_ticket_and_bad_uploads_are_refused_plainly() {
    let (app, fx) = spawn_fixture_configured(|s| s.photos.max_bytes = 4096).await;
    let gw = app.login("gw1", PASSWORD).await;
    let t = file(&app, &gw, &new_ticket(&fx)).await;
    let id = t["id"].as_str().unwrap();
    let r = upload(&app, &gw, id, phone_photo(), "image/jpeg").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let photo = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let other = app.login("gw2", PASSWORD).await;
    for path in [format!("/api/v1/photos/{photo}"), format!("/api/v1/tickets/{id}/photos"), "/api/v1/photos/not-an-id".into()] {
        let r = app.client.get(app.url(&path)).bearer_auth(&other).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let r = upload(&app, &other, id, phone_photo(), "image/jpeg").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "no upload onto a ticket out of scope");
    let r = upload(&app, &gw, id, b"not a photo at all".to_vec(), "image/jpeg").await;
    let body = crate::helpers::assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(body["message"].as_str().unwrap().contains("JPEG"), "{body}");
    let r = upload(&app, &gw, id, vec![0xFF; 5000], "image/jpeg").await;
    crate::helpers::assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[tokio::test]
async fn the_ticket_page_uploads_a_photo_and_shows_its_thumbnail_to_those_in_scope() {
    let (app, fx) = spawn_fixture().await;
    let gw = app.login("gw1", PASSWORD).await;
    let t = file(&app, &gw, &new_ticket(&fx)).await;
    let id = t["id"].as_str().unwrap();
    let c = PageClient::login(&app, "gw1").await;
    let form = || {
        reqwest::multipart::Form::new()
            .text("_csrf", c.csrf.clone())
            .text("kind", "request")
            .part("photo", reqwest::multipart::Part::bytes(phone_photo()).file_name("IMG_0001.jpg").mime_str("image/jpeg").unwrap())
    };
    let r = c.http.post(format!("{}/tickets/{id}/photos", app.base)).multipart(form()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = c.get(&format!("/tickets/{id}")).await;
    let photo = html.split("src=\"/photos/").nth(1).expect("a thumbnail on the page").split('/').next().unwrap().to_string();
    let r = c.http.get(format!("{}/photos/{photo}/thumb", app.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let outsider = PageClient::login(&app, "gw2").await;
    let r = outsider.http.get(format!("{}/photos/{photo}/thumb", app.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Without the token nothing is stored.
    let r = c
        .http
        .post(format!("{}/tickets/{id}/photos", app.base))
        .multipart(reqwest::multipart::Form::new().text("_csrf", "wrong").part("photo", reqwest::multipart::Part::bytes(vec![1, 2, 3])))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.get_ok(&format!("/api/v1/tickets/{id}/photos"), &gw).await.as_array().unwrap().len(), 1);
}

/// A 16×16 PNG of one colour: a second, different photo.
pub fn green_png() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(16, 16, image::Rgb([20, 200, 20]));
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(img).write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    png
}

fn jpeg(bytes: Vec<u8>, name: &str) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()).mime_str("application/octet-stream").unwrap()
}

#[tokio::test]
async fn the_visit_log_form_carries_each_requests_photos_and_a_resident_from_the_register_once() {
    let (app, fx) = spawn_fixture().await;
    let c = PageClient::login(&app, "gw1").await;
    // The register's suggestions for his grid: a label and the masked phone, never the number.
    let (s, body) = c.get(&format!("/day/residents?grid={}", fx.unit("B1"))).await;
    assert_eq!(s, StatusCode::OK);
    let label = "居民r1（测试B1 1-101）";
    let list: Value = serde_json::from_str(&body).unwrap();
    assert!(list.as_array().unwrap().iter().any(|r| r["value"] == label && r["label"] == "137****5678"), "{list}");
    assert!(!body.contains("13712345678"), "no phone number in the suggestions");
    let outsider = PageClient::login(&app, "gw2").await;
    let (_, theirs) = outsider.get(&format!("/day/residents?grid={}", fx.unit("B1"))).await;
    assert!(!theirs.contains("居民r1"), "another grid's worker is not given this register: {theirs}");

    let client_id = uuid::Uuid::now_v7().to_string();
    let form = || {
        reqwest::multipart::Form::new()
            .text("_csrf", c.csrf.clone())
            .text("grid_id", fx.unit("B1").to_string())
            .text("client_id", client_id.clone())
            .text("observations", "走访一户，拍了照片。")
            .text("r0_category", fx.category.clone())
            .text("r0_building", fx.unit("B1").to_string())
            .text("r0_title", "楼道灯不亮")
            .text("r0_resident_name", label)
            .part("r0_photos", jpeg(vec![], ""))
            .text("r1_category", fx.category.clone())
            .text("r1_building", fx.unit("B1").to_string())
            .text("r1_title", "路面坑洼")
            .text("r1_anonymous", "1")
            .part("r1_photos", jpeg(phone_photo(), "IMG_0001.jpg"))
            .part("r1_photos", jpeg(green_png(), "IMG_0002.png"))
    };
    // Sent twice (an answer lost on a bad network): one log, two tickets, two photos.
    for _ in 0..2 {
        let r = c.http.post(format!("{}/day/log", app.base)).multipart(form()).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap_or_default());
    }
    let gw = app.login("gw1", PASSWORD).await;
    let logs = app.get_ok("/api/v1/visit-logs", &gw).await;
    let log_id = logs["items"][0]["id"].as_str().unwrap();
    let log = app.get_ok(&format!("/api/v1/visit-logs/{log_id}"), &gw).await;
    let tickets: Vec<String> = log["tickets"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(tickets.len(), 2, "{log}");
    let photos = |i: usize| {
        let (app, gw, id) = (&app, &gw, tickets[i].clone());
        async move { app.get_ok(&format!("/api/v1/tickets/{id}/photos"), gw).await.as_array().unwrap().len() }
    };
    assert_eq!(photos(0).await, 0, "the first request had no photo (an empty file input is no photo)");
    assert_eq!(photos(1).await, 2, "the second request's two photos, once");
    // The first request's resident is the register's: his name and (masked) phone.
    let t0 = app.get_ok(&format!("/api/v1/tickets/{}", tickets[0]), &gw).await;
    assert_eq!(t0["resident_name"], "居民r1", "{t0}");
    assert_eq!(t0["resident_phone_masked"], "137****5678", "{t0}");

    // Adding to the log: a new request with a photo goes to the new ticket.
    let (_, day) = c.get("/day").await;
    let version = day.split("name=\"log_version\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let amend = reqwest::multipart::Form::new()
        .text("_csrf", c.csrf.clone())
        .text("grid_id", fx.unit("B1").to_string())
        .text("client_id", uuid::Uuid::now_v7().to_string())
        .text("log_id", log_id.to_string())
        .text("log_version", version)
        .text("r0_category", fx.category.clone())
        .text("r0_title", "垃圾未清运")
        .text("r0_anonymous", "1")
        .part("r0_photos", jpeg(green_png(), "IMG_0003.png"));
    let r = c.http.post(format!("{}/day/log", app.base)).multipart(amend).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap_or_default());
    let log = app.get_ok(&format!("/api/v1/visit-logs/{log_id}"), &gw).await;
    let last = log["tickets"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["title"], "垃圾未清运");
    let n = app.get_ok(&format!("/api/v1/tickets/{}/photos", last["id"].as_str().unwrap()), &gw).await;
    assert_eq!(n.as_array().unwrap().len(), 1, "{n}");

    // A photo without words is no request; not a photo is refused by name; nothing is filed.
    for (part, words) in [(jpeg(green_png(), "a.png"), false), (jpeg(b"not a photo".to_vec(), "a.jpg"), true)] {
        let mut f = reqwest::multipart::Form::new()
            .text("_csrf", c.csrf.clone())
            .text("grid_id", fx.unit("B1").to_string())
            .text("client_id", uuid::Uuid::now_v7().to_string())
            .text("observations", "再次走访");
        if words {
            f = f.text("r0_category", fx.category.clone()).text("r0_title", "有照片的诉求-KEEP").text("r0_anonymous", "1");
        }
        let r = c.http.post(format!("{}/day/log", app.base)).multipart(f.part("r0_photos", part)).send().await.unwrap();
        assert!(r.status().is_client_error(), "{}", r.status());
        let html = r.text().await.unwrap();
        assert!(html.contains("诉求 1 · "), "the error names the request: {html}");
        assert!(html.contains("选择的照片需要重新添加"), "and says the photos must be chosen again");
    }
    // A file before the form's token is refused before it is read.
    let sneaky = reqwest::multipart::Form::new().part("r0_photos", jpeg(phone_photo(), "x.jpg")).text("_csrf", c.csrf.clone());
    let r = c.http.post(format!("{}/day/log", app.base)).multipart(sneaky).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.get_ok("/api/v1/visit-logs", &gw).await["items"].as_array().unwrap().len(), 1);
}
