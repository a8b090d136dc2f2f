//! Residents' personal data (个人信息): a wrapper whose `Debug` never prints the value, and the
//! masks shown to everyone who has not explicitly revealed a field (and had that look recorded).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A piece of personal data. `Debug` and `Display` are redacted so it cannot reach a log line
/// by accident; read it with [`Sensitive::expose`] where it is really needed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sensitive<T>(T);

impl<T> Sensitive<T> {
    pub fn new(v: T) -> Self {
        Sensitive(v)
    }
    pub fn expose(&self) -> &T {
        &self.0
    }
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sensitive(<redacted>)")
    }
}

impl<T> fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What a purged personal value is replaced by in its column (a resident's name on a closed
/// ticket, a visit log's notes) once its retention period is over (decision 0033). Never shown as
/// is: views show the localized "cleared" label instead.
pub const PURGED: &str = "(purged)";

/// Whether a stored value is the purge's marker.
pub fn is_purged(v: Option<&str>) -> bool {
    v == Some(PURGED)
}

/// Masks a phone number, keeping the first three and last four digits: `138****5678`.
/// Short or odd numbers keep at most their last two characters.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() >= 11 {
        let head: String = chars[..3].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{head}****{tail}")
    } else {
        mask_keep_tail(&chars, 2)
    }
}

/// Masks a resident identity number (身份证号), keeping the first four and last four characters.
pub fn mask_id_number(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() >= 15 {
        let head: String = chars[..4].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{head}{}{tail}", "*".repeat(chars.len() - 8))
    } else {
        mask_keep_tail(&chars, 2)
    }
}

fn mask_keep_tail(chars: &[char], keep: usize) -> String {
    let keep = keep.min(chars.len() / 2);
    let tail: String = chars[chars.len() - keep..].iter().collect();
    format!("{}{tail}", "*".repeat(chars.len() - keep))
}

/// Checks a mainland mobile number: 11 digits starting with 1.
pub fn validate_mobile(phone: &str) -> Result<(), crate::domain::text::Msg> {
    if phone.len() == 11 && phone.starts_with('1') && phone.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(crate::msg!("rule-mobile"))
    }
}

/// Checks the form of an 18-character resident identity number, including its check digit
/// (GB 11643-1999).
pub fn validate_id_number(id: &str) -> Result<(), crate::domain::text::Msg> {
    let bytes = id.as_bytes();
    let form_ok = bytes.len() == 18 && bytes[..17].iter().all(u8::is_ascii_digit) && (bytes[17].is_ascii_digit() || bytes[17] == b'X');
    if !form_ok {
        return Err(crate::msg!("rule-id_number_form"));
    }
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let sum: u32 = bytes[..17].iter().zip(WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
    if CHECK[(sum % 11) as usize] != bytes[17] {
        return Err(crate::msg!("rule-id_number_check"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_show_only_head_and_tail() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("5678"), "**78");
    }

    #[test]
    fn id_numbers_show_only_head_and_tail() {
        assert_eq!(mask_id_number("34150219450312002X"), "3415**********002X");
    }

    #[test]
    fn sensitive_values_never_print() {
        let s = Sensitive::new("13812345678".to_string());
        assert!(!format!("{s:?} {s}").contains("1381"));
    }

    #[test]
    fn id_numbers_are_checked_with_their_check_digit() {
        assert!(validate_id_number("11010519491231002X").is_ok());
        assert!(validate_id_number("110105194912310021").is_err());
        assert!(validate_id_number("1101051949").is_err());
    }
}
