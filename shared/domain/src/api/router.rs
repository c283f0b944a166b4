//! A route table per group: `(method, pattern, route)` rows, patterns with `{name}` segments.

use crate::error::AppError;
use http::Method;

pub type RouteTable<R> = [(Method, &'static str, R)];

#[derive(Debug, Default, PartialEq)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()).unwrap_or_default()
    }
}

fn matches(pattern: &'static str, path: &str) -> Option<Params> {
    let mut params = Vec::new();
    let mut segments = path.trim_end_matches('/').split('/');
    for expected in pattern.split('/') {
        let segment = segments.next()?;
        match expected.strip_prefix('{').and_then(|e| e.strip_suffix('}')) {
            // A parameter may be percent-encoded (an email's `@` as `%40`).
            Some(name) if !segment.is_empty() => {
                params.push((name, percent_encoding::percent_decode_str(segment).decode_utf8_lossy().into_owned()))
            }
            Some(_) => return None,
            None if expected == segment => {}
            None => return None,
        }
    }
    segments.next().is_none().then_some(Params(params))
}

/// The route for a request: 404 when no pattern matches the path, 405 when only the method is wrong.
pub fn find<R: Copy>(table: &RouteTable<R>, method: &Method, path: &str) -> Result<(R, Params), AppError> {
    // A literal segment wins over a parameter: `/posts/generate` is that route's path (405 for
    // another method), never a post whose id is `generate`.
    let literals = |pattern: &str| pattern.split('/').filter(|s| !s.starts_with('{')).count();
    let matching: Vec<_> = table
        .iter()
        .filter_map(|(m, pattern, route)| matches(pattern, path).map(|params| (m, literals(pattern), route, params)))
        .collect();
    let Some(best) = matching.iter().map(|(_, n, _, _)| *n).max() else {
        return Err(AppError::NotFound("route"));
    };
    let mut allowed: Vec<&str> = Vec::new();
    for (m, n, route, params) in matching {
        if n != best {
            continue;
        }
        if m == method {
            return Ok((*route, params));
        }
        allowed.push(m.as_str());
    }
    Err(AppError::MethodNotAllowed { allow: allowed.join(", ") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum R {
        List,
        Get,
    }
    const TABLE: &RouteTable<R> = &[
        (Method::GET, "/v1/orgs/{orgId}/leads", R::List),
        (Method::GET, "/v1/orgs/{orgId}/leads/{leadId}", R::Get),
    ];

    #[test]
    fn a_literal_segment_wins_over_a_parameter_whatever_the_order() {
        const ROUTES: &RouteTable<R> = &[
            (Method::GET, "/v1/orgs/{orgId}/leads/{leadId}", R::Get),
            (Method::POST, "/v1/orgs/{orgId}/leads/import", R::List),
        ];
        assert_eq!(find(ROUTES, &Method::POST, "/v1/orgs/o1/leads/import").unwrap().0, R::List);
        assert_eq!(find(ROUTES, &Method::GET, "/v1/orgs/o1/leads/l2").unwrap().0, R::Get);
        let err = find(ROUTES, &Method::GET, "/v1/orgs/o1/leads/import").unwrap_err();
        assert!(
            matches!(err, AppError::MethodNotAllowed { ref allow } if allow == "POST"),
            "{err:?}"
        );
    }

    #[test]
    fn captures_named_segments() {
        let (route, params) = find(TABLE, &Method::GET, "/v1/orgs/o1/leads/l2").unwrap();
        assert_eq!(route, R::Get);
        assert_eq!((params.get("orgId"), params.get("leadId")), ("o1", "l2"));
    }

    #[test]
    fn tolerates_a_trailing_slash_but_not_extra_or_empty_segments() {
        assert_eq!(find(TABLE, &Method::GET, "/v1/orgs/o1/leads/").unwrap().0, R::List);
        assert!(matches!(
            find(TABLE, &Method::GET, "/v1/orgs/o1/leads/l2/x"),
            Err(AppError::NotFound(_))
        ));
        assert!(matches!(find(TABLE, &Method::GET, "/v1/orgs//leads"), Err(AppError::NotFound(_))));
    }

    #[test]
    fn a_known_path_with_another_method_is_405() {
        match find(TABLE, &Method::DELETE, "/v1/orgs/o1/leads") {
            Err(AppError::MethodNotAllowed { allow }) => assert_eq!(allow, "GET"),
            _ => panic!("not a 405"),
        }
    }
}
