//! Photos (照片): cleaning an upload and the store that keeps the files. A photo is decoded
//! (JPEG, PNG or WebP, within pixel and memory limits), turned upright by its EXIF orientation,
//! scaled down, and encoded again as a JPEG — which leaves every metadata block behind (a phone
//! writes the place and the device into EXIF, personal data that must not travel on). A
//! thumbnail is made the same way. The store keeps files by the SHA-256 of their bytes, behind
//! [`PhotoStore`], so that an object store can replace the folder later.

use std::io::Cursor;
use std::path::PathBuf;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};

use crate::config::PhotoSettings;

use super::{AppError, AppResult};

/// A cleaned photo: the JPEG to keep, its thumbnail, and its size in pixels.
pub struct Cleaned {
    pub jpeg: Vec<u8>,
    pub thumb: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// Decodes, turns upright, scales and re-encodes an upload; refuses what is not a photo.
pub fn clean(bytes: &[u8], settings: &PhotoSettings) -> AppResult<Cleaned> {
    if bytes.len() > settings.max_bytes {
        return Err(AppError::PayloadTooLarge { limit: settings.max_bytes });
    }
    let not_a_photo = || AppError::validation("photo", crate::msg!("rule-photo_format"));
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|_| not_a_photo())?;
    if !matches!(reader.format(), Some(ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP)) {
        return Err(not_a_photo());
    }
    // A small file may claim a huge picture (a decompression bomb): bounded before decoding.
    let mut limits = Limits::default();
    limits.max_image_width = Some(12_000);
    limits.max_image_height = Some(12_000);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|_| not_a_photo())?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|_| not_a_photo())?;
    img.apply_orientation(orientation);
    let img = if img.width().max(img.height()) > settings.max_side {
        img.resize(settings.max_side, settings.max_side, image::imageops::FilterType::Triangle)
    } else {
        img
    };
    let img = DynamicImage::ImageRgb8(img.to_rgb8());
    let thumb = img.thumbnail(settings.thumb_side, settings.thumb_side);
    Ok(Cleaned { jpeg: jpeg(&img, 85)?, thumb: jpeg(&thumb, 75)?, width: img.width(), height: img.height() })
}

fn jpeg(img: &DynamicImage, quality: u8) -> AppResult<Vec<u8>> {
    let mut out = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    img.to_rgb8().write_with_encoder(encoder).map_err(|e| AppError::internal_msg(format!("photo encoding failed: {e}")))?;
    Ok(out)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where photos are kept, by the SHA-256 of their bytes.
pub trait PhotoStore: Send + Sync {
    /// Keeps the bytes (once, however often they are put) and returns their SHA-256.
    fn put(&self, bytes: &[u8]) -> AppResult<String>;
    /// The bytes kept under a SHA-256.
    fn get(&self, sha256: &str) -> AppResult<Vec<u8>>;
    /// Deletes the bytes kept under a SHA-256 (the retention purge); `false` when there were none.
    fn delete(&self, sha256: &str) -> AppResult<bool>;
}

/// The photo store in a folder: `ab/cd/abcd….jpg`, written to a temporary name and renamed, so
/// that a reader never sees half a file.
pub struct FileStore {
    pub dir: PathBuf,
}

impl FileStore {
    fn path(&self, sha256: &str) -> AppResult<PathBuf> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AppError::NotFound { what: "photo" });
        }
        Ok(self.dir.join(&sha256[..2]).join(&sha256[2..4]).join(format!("{sha256}.jpg")))
    }
}

impl PhotoStore for FileStore {
    fn put(&self, bytes: &[u8]) -> AppResult<String> {
        let sha = sha256_hex(bytes);
        let path = self.path(&sha)?;
        if path.exists() {
            return Ok(sha);
        }
        let io = |e: std::io::Error| AppError::internal_msg(format!("photo store {}: {e}", self.dir.display()));
        std::fs::create_dir_all(path.parent().expect("a folder")).map_err(io)?;
        let tmp = path.with_extension(format!("tmp{}", uuid::Uuid::new_v4().simple()));
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(sha)
    }

    fn get(&self, sha256: &str) -> AppResult<Vec<u8>> {
        std::fs::read(self.path(sha256)?).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => AppError::NotFound { what: "photo" },
            _ => AppError::internal_msg(format!("photo store {}: {e}", self.dir.display())),
        })
    }

    fn delete(&self, sha256: &str) -> AppResult<bool> {
        match std::fs::remove_file(self.path(sha256)?) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(AppError::internal_msg(format!("photo store {}: {e}", self.dir.display()))),
        }
    }
}
