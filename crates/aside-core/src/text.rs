//! Untrusted text made safe to print on a terminal.

/// `text` with every control character shown rather than obeyed: an escape sequence from a
/// task, an agent's message or a command's output cannot retitle the terminal, write the
/// clipboard (OSC 52), clear the screen, move the cursor over what was printed or hide text.
/// C0 controls become their Unicode control pictures (`␛`, `␍`, …), C1 controls and the
/// bidirectional overrides and isolates (which reorder what a line shows) become `<U+XXXX>`.
/// Newlines and tabs are kept.
pub fn terminal_safe(text: &str) -> String {
    if !text.chars().any(needs_showing) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !needs_showing(c) {
            out.push(c);
        } else if (c as u32) < 0x20 {
            out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'));
        } else if c == '\u{7f}' {
            out.push('\u{2421}');
        } else {
            out.push_str(&format!("<U+{:04X}>", c as u32));
        }
    }
    out
}

fn needs_showing(c: char) -> bool {
    match c {
        '\n' | '\t' => false,
        c if c.is_control() => true,
        // Embeddings, overrides and isolates ("Trojan Source"); the plain marks LRM/RLM/ALM
        // only nudge neutral characters and are left alone.
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_bidi_overrides_are_shown_not_obeyed() {
        assert_eq!(terminal_safe("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(
            terminal_safe("\x1b]0;pwned\x07\x1b]52;c;ZWNobw==\x07\x1b[2Jok\r"),
            "␛]0;pwned␇␛]52;c;ZWNobw==␇␛[2Jok␍"
        );
        assert_eq!(terminal_safe("a\u{9b}31mb"), "a<U+009B>31mb");
        assert_eq!(
            terminal_safe("access = \"user\u{202e} \u{2066}// admin\u{2069}\u{2066}\""),
            "access = \"user<U+202E> <U+2066>// admin<U+2069><U+2066>\""
        );
        assert_eq!(terminal_safe("del\u{7f}"), "del␡");
    }
}
