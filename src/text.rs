//! Messages built without `core::fmt`: `format!` links the formatting machinery (padding,
//! integer `Display`, `format_inner`: about 4 KB of the wasm module), and error messages
//! need no more than pieces joined and whole numbers written out.

use crate::prelude::*;

/// The pieces, joined.
pub(crate) fn cat(pieces: &[&str]) -> String {
    let mut s = String::with_capacity(pieces.iter().map(|p| p.len()).sum());
    for p in pieces {
        s.push_str(p);
    }
    s
}

/// A whole number in decimal.
pub(crate) fn num(n: u64) -> String {
    let mut digits = [0u8; 20];
    let (mut n, mut at) = (n, digits.len());
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    digits[at..].iter().map(|&d| char::from(d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_pieces_read_as_format_writes_them() {
        for n in [0, 7, 10, 99, 4096, u64::from(u32::MAX), u64::MAX] {
            assert_eq!(num(n), format!("{n}"));
        }
        assert_eq!(cat(&["profiles", "[", &num(2), "].id"]), "profiles[2].id");
        assert_eq!(cat(&[]), "");
    }
}
