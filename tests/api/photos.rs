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
