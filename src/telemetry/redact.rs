//! Masking for text that comes from outside and must sometimes be logged
//! (an upstream error body, at debug level): numbers that could be
//! identifiers, e-mail addresses, tokens and base64 are replaced, and the
//! result is short.

/// The longest masked excerpt.
const MAX_CHARS: usize = 300;

/// Masks personal data and secrets in `text`.
pub fn mask(text: &str) -> String {
    let mut out = String::new();
    for word in text.split_inclusive(|c: char| c.is_whitespace() || "\",:{}[]=;&".contains(c)) {
        let (body, tail) = split_tail(word);
        out.push_str(mask_word(body));
        out.push_str(tail);
        if out.chars().count() > MAX_CHARS {
            out = out.chars().take(MAX_CHARS).collect();
            out.push('…');
            break;
        }
    }
    out
}

fn split_tail(word: &str) -> (&str, &str) {
    match word.char_indices().last() {
        Some((i, c)) if c.is_whitespace() || "\",:{}[]=;&".contains(c) => (&word[..i], &word[i..]),
        _ => (word, ""),
    }
}

fn mask_word(word: &str) -> &str {
    let digits = word.chars().filter(char::is_ascii_digit).count();
    let base64ish = word.len() >= 24
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=_-.".contains(c));
    if word.contains('@') {
        "<email>"
    } else if base64ish {
        "<token>"
    } else if digits >= 4 {
        "<number>"
    } else {
        word
    }
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn identifiers_emails_and_tokens_are_masked() {
        let body = r#"{"code": 20507, "message": "bad code 529.982.247-25 for luke@example.com", "token": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.abc"}"#;
        let masked = mask(body);
        assert!(!masked.contains("529"), "{masked}");
        assert!(!masked.contains("luke@"), "{masked}");
        assert!(!masked.contains("eyJ"), "{masked}");
        assert!(masked.contains("bad code"), "{masked}");
    }

    #[test]
    fn long_text_is_cut() {
        let long = "word ".repeat(500);
        assert!(mask(&long).chars().count() <= 301);
    }
}
