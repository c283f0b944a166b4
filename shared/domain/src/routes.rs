//! The route groups, each one Lambda function (and one set of prefixes in `local`). Each
//! capability declares its group beside its handlers (`<capability>::http::ROUTES`); this list
//! is the only place that knows them all.

use crate::api::RouteGroup;
use crate::api::contract::SchemasOf;

/// `api-health`: the health report, and the contract of every group. Declared here, with
/// the registry, because the contract is written from all of it.
pub mod api_health {
    use crate::api::router::Params;
    use crate::api::{Bare, Reply, Req, route_group};
    use crate::app::App;
    use crate::error::{AppError, AppResult};
    use crate::health::health;
    use crate::openapi::Served;
    use serde_json::value::RawValue;
    use std::sync::OnceLock;

    route_group! {
        function: "api-health", tag: "Health", prefixes: &["/v1/health", "/v1/openapi.json"], body_limit: None, ports: &[];
        /// Whether the API can work, and how each dependency is set up; 503 when it cannot.
        GET "/v1/health" public => health, also 503;
        /// This document: the API's contract, OpenAPI 3.1.
        GET "/v1/openapi.json" public => contract;
    }

    /// Where the contract's text comes from, given by the front door before the first
    /// request: the text written at build time for the function (`functions/api-health/
    /// build.rs`: the schema code is then not in its binary), `routes::contract` for `local`.
    /// It is read by the first request that asks for it, not at start-up.
    static CONTRACT: OnceLock<fn() -> String> = OnceLock::new();
    static CHECKED: OnceLock<Box<RawValue>> = OnceLock::new();

    pub fn serve_contract(text: fn() -> String) {
        let _ = CONTRACT.set(text);
    }

    /// The document as it was given, checked to be JSON once a process.
    async fn contract(_: &App, _: Req, _: Params) -> AppResult<Bare<Served>> {
        if CHECKED.get().is_none() {
            let text = CONTRACT
                .get()
                .ok_or_else(|| AppError::internal("the contract was not given to this function"))?;
            let _ = CHECKED.set(RawValue::from_string(text())?);
        }
        let checked = CHECKED.get().ok_or_else(|| AppError::internal("the contract could not be kept"))?;
        Reply::bare(Served(checked))
    }
}

/// The contract of every group.
pub fn contract() -> serde_json::Value {
    let groups: Vec<_> = Group::ALL.iter().map(|g| (g.spec(), g.schemas())).collect();
    crate::openapi::document(&groups)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Auth,
    Orgs,
    Leads,
    Billing,
    /// The AI CEO: its config and conversations.
    Chat,
    /// Tasks, approvals, the autonomy policy and the agent's insights.
    Tasks,
    /// The business profile, strategies, posts, calendar and analytics.
    Content,
    /// Social accounts, connected by OAuth, and the platforms' callback.
    Social,
    /// Clients, their health, surveys (with their public pages) and alerts.
    Clients,
    /// Sponsors, deals, their deliverables and follow-ups, and the pipeline.
    Deals,
    Health,
    /// Stripe's deliveries, on a function URL of their own.
    StripeWebhook,
}

impl Group {
    pub const ALL: [Group; 12] = [
        Group::Auth,
        Group::Orgs,
        Group::Leads,
        Group::Billing,
        Group::Chat,
        Group::Tasks,
        Group::Content,
        Group::Social,
        Group::Clients,
        Group::Deals,
        Group::Health,
        Group::StripeWebhook,
    ];

    pub fn spec(self) -> &'static RouteGroup {
        match self {
            Group::Auth => &crate::auth::http::ROUTES,
            Group::Orgs => &crate::orgs::http::ROUTES,
            Group::Leads => &crate::leads::http::ROUTES,
            Group::Billing => &crate::billing::http::ROUTES,
            Group::Chat => &crate::ceo::http::ROUTES,
            Group::Tasks => &crate::tasks::http::ROUTES,
            Group::Content => &crate::content::http::ROUTES,
            Group::Social => &crate::social::http::ROUTES,
            Group::Clients => &crate::clients::http::ROUTES,
            Group::Deals => &crate::deals::http::ROUTES,
            Group::Health => &api_health::ROUTES,
            Group::StripeWebhook => &crate::billing::http::stripe_webhook::ROUTES,
        }
    }

    /// The schemas of the group's routes, for the contract (linked only where it is served).
    pub fn schemas(self) -> SchemasOf {
        match self {
            Group::Auth => crate::auth::http::schemas,
            Group::Orgs => crate::orgs::http::schemas,
            Group::Leads => crate::leads::http::schemas,
            Group::Billing => crate::billing::http::schemas,
            Group::Chat => crate::ceo::http::schemas,
            Group::Tasks => crate::tasks::http::schemas,
            Group::Content => crate::content::http::schemas,
            Group::Social => crate::social::http::schemas,
            Group::Clients => crate::clients::http::schemas,
            Group::Deals => crate::deals::http::schemas,
            Group::Health => api_health::schemas,
            Group::StripeWebhook => crate::billing::http::stripe_webhook::schemas,
        }
    }

    /// The group that serves a path: the one whose prefix matches the most segments.
    pub fn for_path(path: &str) -> Option<Group> {
        Group::ALL
            .into_iter()
            .filter_map(|g| g.spec().claims(path).map(|len| (len, g)))
            .max_by_key(|(len, _)| *len)
            .map(|(_, g)| g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_go_to_their_group() {
        assert_eq!(Group::for_path("/v1/auth/login"), Some(Group::Auth));
        assert_eq!(Group::for_path("/v1/orgs"), Some(Group::Orgs));
        assert_eq!(Group::for_path("/v1/orgs/abc/members"), Some(Group::Orgs));
        assert_eq!(Group::for_path("/v1/orgs/abc/leads/x/activities"), Some(Group::Leads));
        assert_eq!(Group::for_path("/v1/invitations/t/accept"), Some(Group::Orgs));
        assert_eq!(Group::for_path("/v1/health"), Some(Group::Health));
        assert_eq!(Group::for_path("/v1/orgs/abc/billing/checkout"), Some(Group::Billing));
        assert_eq!(Group::for_path("/v1/stripe/webhook"), Some(Group::StripeWebhook));
        assert_eq!(Group::for_path("/v1/orgs/abc/conversations/c/messages"), Some(Group::Chat));
        assert_eq!(Group::for_path("/v1/orgs/abc/ai-config"), Some(Group::Chat));
        assert_eq!(Group::for_path("/v1/orgs/abc/tasks/t/approve"), Some(Group::Tasks));
        assert_eq!(Group::for_path("/v1/orgs/abc/agent/analyze"), Some(Group::Tasks));
        assert_eq!(Group::for_path("/v1/orgs/abc/insights"), Some(Group::Tasks));
        assert_eq!(Group::for_path("/v1/orgs/abc/leads/l/score"), Some(Group::Leads));
        assert_eq!(Group::for_path("/v1/orgs/abc/invitations/x%40y.io"), Some(Group::Orgs));
        assert_eq!(Group::for_path("/v1/orgs/abc/clients/c/health/history"), Some(Group::Clients));
        assert_eq!(Group::for_path("/v1/surveys/t/responses"), Some(Group::Clients));
        assert_eq!(Group::for_path("/v1/orgs/abc/surveys/s/links"), Some(Group::Clients));
        assert_eq!(Group::for_path("/v2/x"), None);
    }

    /// Every route of a group lies under one of its own prefixes, and no other group's
    /// prefix claims it more closely.
    #[test]
    fn every_route_is_served_by_its_own_group() {
        for group in Group::ALL {
            for (_, pattern, _) in group.spec().routes {
                assert_eq!(Group::for_path(pattern), Some(group), "{pattern}");
            }
        }
    }

    /// Segment-wise: `{x}` in one matches `{y}` in the other; a template path ending in
    /// `{proxy+}` covers every path below its prefix.
    fn covers(template_path: &str, pattern: &str) -> bool {
        let t: Vec<&str> = template_path.trim_matches('/').split('/').collect();
        let p: Vec<&str> = pattern.trim_matches('/').split('/').collect();
        let same = |a: &str, b: &str| a == b || (a.starts_with('{') && b.starts_with('{'));
        match t.split_last() {
            Some((&"{proxy+}", head)) => p.len() > head.len() && head.iter().zip(&p).all(|(a, b)| same(a, b)),
            _ => t.len() == p.len() && t.iter().zip(&p).all(|(a, b)| same(a, b)),
        }
    }

    /// `template.yaml` and the declarations agree: every group has its function, whose HTTP
    /// API events cover each of its routes and nothing else (the webhook has a function URL);
    /// every job has its function; every function in the template is a group's or a job's.
    #[test]
    fn the_template_declares_every_group_route_and_job_and_nothing_else() {
        let template: serde_yaml_ng::Value = serde_yaml_ng::from_str(include_str!("../../../template.yaml")).unwrap();
        let mut functions = std::collections::BTreeMap::new();
        for (_, resource) in template["Resources"].as_mapping().unwrap() {
            if resource["Type"] != "AWS::Serverless::Function" {
                continue;
            }
            let binary = resource["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap().to_string();
            let paths: Vec<String> = resource["Properties"]["Events"]
                .as_mapping()
                .into_iter()
                .flatten()
                .filter(|(_, event)| event["Type"] == "HttpApi")
                .map(|(_, event)| event["Properties"]["Path"].as_str().unwrap().to_string())
                .collect();
            let url = !resource["Properties"]["FunctionUrlConfig"].is_null();
            functions.insert(binary, (paths, url));
        }
        let mut declared: Vec<&str> = crate::jobs::Job::ALL.iter().map(|j| j.function()).collect();
        for group in Group::ALL {
            let spec = group.spec();
            declared.push(spec.function);
            let (paths, url) = functions
                .get(spec.function)
                .unwrap_or_else(|| panic!("{} is not in template.yaml", spec.function));
            if group == Group::StripeWebhook {
                assert!(*url && paths.is_empty(), "the webhook is reached through its function URL");
                continue;
            }
            for (_, pattern, _) in spec.routes {
                assert!(
                    paths.iter().any(|p| covers(p, pattern)),
                    "{}: no HttpApi event covers {pattern}",
                    spec.function
                );
            }
            for path in paths {
                assert!(
                    spec.routes.iter().any(|(_, pattern, _)| covers(path, pattern)),
                    "{}: the event {path} serves no route of the group",
                    spec.function
                );
            }
        }
        for function in functions.keys() {
            assert!(
                declared.contains(&function.as_str()),
                "{function} in template.yaml is neither a group nor a job"
            );
        }
        for job in crate::jobs::Job::ALL {
            assert!(functions.contains_key(job.function()), "{} is not in template.yaml", job.function());
        }
    }

    /// The README's API table lists exactly the declared routes (local's own routes aside).
    #[test]
    fn the_readme_lists_every_route_and_only_those() {
        let readme = include_str!("../../../README.md");
        let section = &readme[readme.find("## The API").unwrap()..];
        let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
        let mut listed = std::collections::BTreeSet::new();
        for row in section.lines().filter(|l| l.starts_with("| `")) {
            let first = row.split(" | ").next().unwrap().trim_start_matches("| ");
            let spans: Vec<&str> = first.split('`').skip(1).step_by(2).collect();
            let (methods, base) = spans[0].rsplit_once(' ').unwrap();
            for method in methods.split(" / ") {
                listed.insert(format!("{method} {base}"));
                // `…/approve`, `/reject`: a sibling of the first path.
                for sibling in &spans[1..] {
                    let parent = base.rsplit_once('/').unwrap().0;
                    listed.insert(format!("{method} {parent}{sibling}"));
                }
            }
        }
        let normal = |route: &str| -> String {
            route
                .split('/')
                .map(|s| if s.starts_with('{') { "{}" } else { s })
                .collect::<Vec<_>>()
                .join("/")
        };
        let listed: std::collections::BTreeSet<String> = listed.iter().map(|r| normal(r)).collect();
        let declared: std::collections::BTreeSet<String> = Group::ALL
            .iter()
            .flat_map(|g| g.spec().routes.iter())
            .map(|(method, pattern, _)| normal(&format!("{method} {pattern}")))
            .collect();
        assert_eq!(
            declared.difference(&listed).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "declared but not in the README"
        );
        assert_eq!(
            listed.difference(&declared).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "in the README but not declared"
        );
    }
}
