//! Each platform's rules in one table: how long a post may be (and how its length is
//! counted), how many hashtags and media it may carry, and whether it needs an image.
//! Generated text is made to fit ([`fit`]); a save that breaks a rule is refused ([`check`])
//! with a message that names the rule.

use crate::error::{AppError, AppResult};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Linkedin,
    X,
    Facebook,
    Instagram,
    /// The sandbox's own feed: posts that go nowhere, for trying the pipeline.
    Sandbox,
}

/// How a platform counts a post's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    /// Unicode characters.
    Characters,
    /// X's weighted count: most Latin text 1, other characters (CJK, emoji) 2, a URL 23.
    XWeighted,
}

#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub max_length: usize,
    pub counting: Counting,
    /// `None`: the platform sets no limit.
    pub max_hashtags: Option<usize>,
    pub max_media: usize,
    pub image_required: bool,
}

impl Platform {
    pub const ALL: [Platform; 5] = [
        Platform::Linkedin,
        Platform::X,
        Platform::Facebook,
        Platform::Instagram,
        Platform::Sandbox,
    ];
    pub const NAMES: &'static str = "linkedin, x, facebook, instagram, sandbox";

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Linkedin => "linkedin",
            Platform::X => "x",
            Platform::Facebook => "facebook",
            Platform::Instagram => "instagram",
            Platform::Sandbox => "sandbox",
        }
    }

    pub fn parse(name: &str) -> AppResult<Platform> {
        Platform::ALL
            .into_iter()
            .find(|p| p.as_str() == name)
            .ok_or_else(|| AppError::validation(format!("platform must be one of {}", Platform::NAMES)))
    }

    /// The rules table (sources: `shared/reference/social-apis.md`): LinkedIn 3,000
    /// characters; X 280 weighted characters, up to 4 images; Facebook 63,206; Instagram a
    /// 2,200-character caption, 30 hashtags, an image required, up to 10 in a carousel.
    pub fn rules(self) -> Rules {
        let (max_length, counting, max_hashtags, max_media, image_required) = match self {
            Platform::Linkedin => (3_000, Counting::Characters, None, 9, false),
            Platform::X => (280, Counting::XWeighted, None, 4, false),
            Platform::Facebook => (63_206, Counting::Characters, None, 10, false),
            Platform::Instagram => (2_200, Counting::Characters, Some(30), 10, true),
            Platform::Sandbox => (3_000, Counting::Characters, None, 10, false),
        };
        Rules {
            max_length,
            counting,
            max_hashtags,
            max_media,
            image_required,
        }
    }
}

/// What a URL counts on X, whatever its length.
pub const X_URL_WEIGHT: usize = 23;

/// X's weight of one character: 1 in the ranges twitter-text weighs at 100, 2 elsewhere.
fn x_weight(c: char) -> usize {
    match u32::from(c) {
        0..=4351 | 8192..=8205 | 8208..=8223 | 8242..=8247 => 1,
        _ => 2,
    }
}

fn is_url(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")) && word.len() > 8
}

/// A text's length as `counting` counts it.
pub fn length(text: &str, counting: Counting) -> usize {
    match counting {
        Counting::Characters => text.chars().count(),
        Counting::XWeighted => {
            let mut total = 0;
            let mut rest = text;
            while !rest.is_empty() {
                let start = rest.find(|c: char| !c.is_whitespace()).unwrap_or(rest.len());
                total += rest[..start].chars().map(x_weight).sum::<usize>();
                rest = &rest[start..];
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                let word = &rest[..end];
                total += if is_url(word) {
                    X_URL_WEIGHT
                } else {
                    word.chars().map(x_weight).sum()
                };
                rest = &rest[end..];
            }
            total
        }
    }
}

/// The text that goes out: the post's text, then its hashtags on a line of their own.
pub fn outgoing_text(text: &str, hashtags: &[String]) -> String {
    if hashtags.is_empty() {
        text.to_string()
    } else {
        let tags: Vec<String> = hashtags.iter().map(|t| format!("#{t}")).collect();
        format!("{text}\n\n{}", tags.join(" "))
    }
}

/// Hashtags as stored: without `#`, letters, digits and `_` only, each once (any case).
pub fn clean_hashtags(hashtags: Vec<String>) -> AppResult<Vec<String>> {
    let mut clean: Vec<String> = Vec::new();
    for tag in hashtags {
        let tag = tag.trim().trim_start_matches('#').to_string();
        if tag.is_empty() || tag.chars().count() > 100 || !tag.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(AppError::validation(format!(
                "hashtags: {tag:?} is not a hashtag (letters, digits and _ only, at most 100)"
            )));
        }
        if !clean.iter().any(|c| c.to_lowercase() == tag.to_lowercase()) {
            clean.push(tag);
        }
    }
    Ok(clean)
}

/// Refuses a post that breaks one of its platform's rules, naming the rule. A draft may
/// lack the image its platform requires (`to_publish` false); one about to be approved or
/// scheduled may not.
pub fn check(platform: Platform, text: &str, hashtags: &[String], media_urls: &[String], to_publish: bool) -> AppResult<()> {
    let rules = platform.rules();
    let name = platform.as_str();
    let length = length(&outgoing_text(text, hashtags), rules.counting);
    if length > rules.max_length {
        let unit = match rules.counting {
            Counting::Characters => "characters",
            Counting::XWeighted => "weighted characters (a URL counts 23, CJK and emoji 2)",
        };
        return Err(AppError::validation(format!(
            "text: {name} allows {} {unit} with the hashtags; this post has {length}",
            rules.max_length
        )));
    }
    if let Some(max) = rules.max_hashtags.filter(|max| hashtags.len() > *max) {
        return Err(AppError::validation(format!(
            "hashtags: {name} allows at most {max} hashtags; this post has {}",
            hashtags.len()
        )));
    }
    if media_urls.len() > rules.max_media {
        return Err(AppError::validation(format!(
            "mediaUrls: {name} allows at most {} images; this post has {}",
            rules.max_media,
            media_urls.len()
        )));
    }
    if to_publish {
        require_media(platform, media_urls)?;
    }
    Ok(())
}

/// A post for a platform that publishes only with an image (Instagram) must carry one by the
/// time it is approved or scheduled: 400 `MEDIA_REQUIRED`.
pub fn require_media(platform: Platform, media_urls: &[String]) -> AppResult<()> {
    if platform.rules().image_required && media_urls.is_empty() {
        return Err(AppError::BadRequest {
            code: "MEDIA_REQUIRED",
            message: format!("mediaUrls: {} requires an image", platform.as_str()),
        });
    }
    Ok(())
}

/// Generated text made to fit: hashtags past the platform's limit dropped, and those that
/// would take more than half the room; then, if the text fits alone but not with its
/// hashtags, the last hashtags dropped; otherwise the text cut at a word and ended with `…`.
pub fn fit(platform: Platform, text: &str, mut hashtags: Vec<String>) -> (String, Vec<String>) {
    let rules = platform.rules();
    if let Some(max) = rules.max_hashtags {
        hashtags.truncate(max);
    }
    let room = |text: &str, tags: &[String]| length(&outgoing_text(text, tags), rules.counting);
    while !hashtags.is_empty() && room("…", &hashtags) > rules.max_length / 2 {
        hashtags.pop();
    }
    if room(text, &hashtags) <= rules.max_length {
        return (text.to_string(), hashtags);
    }
    if room(text, &[]) <= rules.max_length {
        while room(text, &hashtags) > rules.max_length {
            hashtags.pop();
        }
        return (text.to_string(), hashtags);
    }
    let fits = |cut: &str| room(cut, &hashtags) <= rules.max_length;
    let mut words: Vec<&str> = text.split(' ').collect();
    while words.len() > 1 {
        words.pop();
        let cut = format!("{}…", words.join(" ").trim_end());
        if fits(&cut) {
            return (cut, hashtags);
        }
    }
    // One long word: cut by characters.
    let mut cut: String = text.to_string();
    while !cut.is_empty() && !fits(&format!("{cut}…")) {
        cut.pop();
    }
    (format!("{cut}…"), hashtags)
}

/// Parts an X thread holds at most.
pub const MAX_THREAD: usize = 25;

/// A long text for X as a thread: parts numbered `1/3 …`, each within 280 weighted
/// characters, split at sentence ends where they allow, else at words (a word longer than a
/// part, by characters); the hashtags close the last part when they fit. Text that fits in
/// one post is one part, unnumbered. Past `MAX_THREAD` parts the rest is cut with `…`.
pub fn thread(texts: &[String], hashtags: &[String]) -> Vec<String> {
    let whole = texts
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    let max = Platform::X.rules().max_length;
    let weigh = |text: &str| length(text, Counting::XWeighted);
    if weigh(&outgoing_text(&whole, hashtags)) <= max {
        return vec![outgoing_text(&whole, hashtags)];
    }
    // Room for the widest number, "25/25 ".
    let budget = max - 6;
    let mut units: Vec<String> = Vec::new();
    for sentence in sentences(&whole) {
        if weigh(&sentence) <= budget {
            units.push(sentence);
            continue;
        }
        for word in sentence.split_whitespace() {
            let mut word = word.to_string();
            while weigh(&word) > budget {
                let mut head = String::new();
                let mut chars = word.chars();
                for c in chars.by_ref() {
                    if weigh(&format!("{head}{c}")) > budget {
                        let rest: String = std::iter::once(c).chain(chars).collect();
                        units.push(head);
                        word = rest;
                        break;
                    }
                    head.push(c);
                }
            }
            units.push(word);
        }
    }
    let mut parts: Vec<String> = Vec::new();
    for unit in units {
        match parts.last_mut() {
            Some(last) if weigh(&format!("{last} {unit}")) <= budget => {
                last.push(' ');
                last.push_str(&unit);
            }
            _ => parts.push(unit),
        }
    }
    if parts.len() > MAX_THREAD {
        parts.truncate(MAX_THREAD);
        let last = parts.last_mut().expect("a thread has parts");
        while weigh(&format!("{last}…")) > budget {
            last.pop();
        }
        last.push('…');
    }
    let count = parts.len();
    let mut numbered: Vec<String> = parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| format!("{}/{count} {part}", i + 1))
        .collect();
    if let Some(last) = numbered.last_mut() {
        let tagged = outgoing_text(last, hashtags);
        if weigh(&tagged) <= max {
            *last = tagged;
        }
    }
    numbered
}

/// A text's sentences (and its lines), each trimmed, none empty.
fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut current = String::new();
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            current.push(c);
            if matches!(c, '.' | '!' | '?') && chars.peek().is_none_or(|n| n.is_whitespace()) {
                out.push(current.trim().to_string());
                current.clear();
            }
        }
        out.push(current.trim().to_string());
    }
    out.retain(|s| !s.is_empty());
    out
}

/// Refuses a thread that breaks X's rules: 2 to `MAX_THREAD` parts, each within 280
/// weighted characters, none empty.
pub fn check_thread(platform: Platform, parts: &[String]) -> AppResult<()> {
    if parts.is_empty() {
        return Ok(());
    }
    if platform != Platform::X {
        return Err(AppError::validation(format!(
            "thread: only x posts can be threads; this post is for {}",
            platform.as_str()
        )));
    }
    if parts.len() < 2 || parts.len() > MAX_THREAD {
        return Err(AppError::validation(format!("thread: a thread has 2 to {MAX_THREAD} parts")));
    }
    for (i, part) in parts.iter().enumerate() {
        let weighed = length(part, Counting::XWeighted);
        if part.trim().is_empty() || weighed > Platform::X.rules().max_length {
            return Err(AppError::validation(format!(
                "thread: part {} has {weighed} weighted characters; x allows 1 to 280",
                i + 1
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_text_becomes_a_numbered_thread_within_xs_count() {
        let long = "Chief plans a piece once. It then rewrites it for every platform! Does it fit? ".repeat(12);
        let parts = thread(std::slice::from_ref(&long), &["creators".into()]);
        assert!(parts.len() > 1, "{parts:?}");
        let n = parts.len();
        for (i, part) in parts.iter().enumerate() {
            assert!(part.starts_with(&format!("{}/{n} ", i + 1)), "{part}");
            assert!(length(part, Counting::XWeighted) <= 280, "{part}");
        }
        assert!(parts.last().unwrap().ends_with("#creators"));
        assert!(check_thread(Platform::X, &parts).is_ok());
        let words: usize = parts.iter().map(|p| p.split_whitespace().count() - 1).sum();
        assert_eq!(words, long.split_whitespace().count() + 1, "every word kept, plus the hashtag");
        assert_eq!(thread(&["short".into()], &[]), vec!["short".to_string()]);
        let wide = "日本語".repeat(200);
        assert!(thread(&[wide], &[]).iter().all(|p| length(p, Counting::XWeighted) <= 280));
        assert!(check_thread(Platform::Linkedin, &parts).is_err());
        assert!(check_thread(Platform::X, &["only one".into()]).is_err());
    }

    #[test]
    fn x_counts_urls_as_23_and_wide_characters_as_2() {
        assert_eq!(length("hello", Counting::XWeighted), 5);
        assert_eq!(
            length("see https://example.com/a/very/long/path/indeed/yes", Counting::XWeighted),
            4 + 23
        );
        assert_eq!(length("日本", Counting::XWeighted), 4);
        assert_eq!(length("🙂", Counting::XWeighted), 2);
        assert_eq!(length("日本", Counting::Characters), 2);
    }

    #[test]
    fn a_post_over_a_rule_is_refused_naming_the_rule() {
        let long = "a".repeat(281);
        let err = check(Platform::X, &long, &[], &[], false).unwrap_err().to_string();
        assert!(err.contains("x allows 280 weighted characters"), "{err}");
        assert!(check(Platform::Linkedin, &long, &[], &[], false).is_ok());
        let err = check(Platform::Instagram, "hi", &[], &[], true).unwrap_err().to_string();
        assert!(err.contains("requires an image"), "{err}");
        let tags: Vec<String> = (0..31).map(|i| format!("t{i}")).collect();
        let err = check(Platform::Instagram, "hi", &tags, &["https://x.io/a.jpg".into()], true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("at most 30 hashtags"), "{err}");
        assert!(
            check(Platform::X, &"a".repeat(270), &["abcdefghijk".into()], &[], false).is_err(),
            "hashtags count"
        );
    }

    #[test]
    fn generated_text_is_made_to_fit_at_a_word() {
        let text = "word ".repeat(100);
        let (fitted, tags) = fit(Platform::X, text.trim(), vec!["growth".into()]);
        assert!(check(Platform::X, &fitted, &tags, &[], false).is_ok());
        assert!(fitted.ends_with("word…"), "{fitted}");
        assert_eq!(tags, vec!["growth".to_string()]);
        let (same, _) = fit(Platform::Linkedin, "short", vec![]);
        assert_eq!(same, "short");
        let (text, tags) = fit(Platform::X, &"a".repeat(275), vec!["growth".into()]);
        assert_eq!((text.len(), tags.len()), (275, 0), "a text that fits alone keeps its words");
        let (cut, _) = fit(Platform::X, &"x".repeat(400), vec![]);
        assert_eq!(length(&cut, Counting::XWeighted), 280);
    }

    #[test]
    fn hashtags_are_cleaned_once_each() {
        assert_eq!(
            clean_hashtags(vec!["#Growth".into(), "growth".into(), "b2b".into()]).unwrap(),
            vec!["Growth".to_string(), "b2b".to_string()]
        );
        assert!(clean_hashtags(vec!["two words".into()]).is_err());
    }
}
