//! `${...}` placeholders in text, as s.yaml and flow definitions write them.

/// `s` with each `${expr}` replaced by what `eval` makes of `expr` (the text
/// up to the next `}`, untrimmed). A `${` without its `}` is `unclosed()`.
pub fn replace<E>(
    s: &str,
    mut eval: impl FnMut(&str) -> Result<String, E>,
    unclosed: impl FnOnce() -> E,
) -> Result<String, E> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else {
            return Err(unclosed());
        };
        out.push_str(&eval(&after[..end])?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::replace;

    #[test]
    fn replaces_each_placeholder_and_refuses_an_unclosed_one() {
        let upper = |e: &str| Ok::<_, String>(e.trim().to_uppercase());
        let unclosed = || "unclosed".to_string();
        assert_eq!(
            replace("a ${ b } c ${d}", upper, unclosed),
            Ok("a B c D".to_string())
        );
        assert_eq!(replace("plain", upper, unclosed), Ok("plain".to_string()));
        assert_eq!(
            replace("x ${y", upper, unclosed),
            Err("unclosed".to_string())
        );
        let refuse = |e: &str| Err::<String, _>(format!("no {e}"));
        assert_eq!(replace("${z}", refuse, unclosed), Err("no z".to_string()));
    }
}
