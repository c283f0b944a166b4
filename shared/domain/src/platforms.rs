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

#[cfg(test)]
mod tests {
    use super::*;

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
