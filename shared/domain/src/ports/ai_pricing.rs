//! What an AI call costs: a price per million input and output tokens for each model. The
//! defaults are OpenAI's standard (not batch, not cached) list prices, as read on
//! [`PRICES_READ_ON`]; `CHIEF_AI_PRICES` replaces or adds models (see [`Prices::with_overrides`]).
//! Costs are kept in millionths of a dollar, so that sums are exact.

/// The day the default prices were read from OpenAI's pricing page.
pub const PRICES_READ_ON: &str = "2026-06-21";

/// A model's price in dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

const DEFAULTS: [(&str, Price); 11] = [
    ("gpt-4.1", Price { input: 2.00, output: 8.00 }),
    ("gpt-4.1-mini", Price { input: 0.40, output: 1.60 }),
    ("gpt-4.1-nano", Price { input: 0.10, output: 0.40 }),
    (
        "gpt-4o",
        Price {
            input: 2.50,
            output: 10.00,
        },
    ),
    ("gpt-4o-mini", Price { input: 0.15, output: 0.60 }),
    (
        "gpt-5",
        Price {
            input: 1.25,
            output: 10.00,
        },
    ),
    ("gpt-5-mini", Price { input: 0.25, output: 2.00 }),
    ("gpt-5-nano", Price { input: 0.05, output: 0.40 }),
    ("o3", Price { input: 2.00, output: 8.00 }),
    ("o4-mini", Price { input: 1.10, output: 4.40 }),
    // The offline writer costs nothing.
    ("offline", Price { input: 0.0, output: 0.0 }),
];

/// The configured models first, then the defaults they did not replace. A short list read
/// front to back: a map's code would weigh more in every function than the lookups cost.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Prices {
    configured: Vec<(String, Price)>,
}

impl Prices {
    /// The defaults with `setting`'s models replaced or added: a JSON object of model to
    /// `{"input": dollars, "output": dollars}` per million tokens.
    pub fn with_overrides(setting: &str) -> Result<Prices, String> {
        let parsed: serde_json::Value = serde_json::from_str(setting).map_err(|e| format!("CHIEF_AI_PRICES is not JSON: {e}"))?;
        let models = parsed
            .as_object()
            .ok_or_else(|| "CHIEF_AI_PRICES is not a JSON object of models".to_string())?;
        let mut prices = Prices::default();
        for (model, price) in models {
            let dollars = |side: &str| {
                price[side]
                    .as_f64()
                    .filter(|d| d.is_finite() && *d >= 0.0)
                    .ok_or_else(|| format!("CHIEF_AI_PRICES: {model} needs \"{side}\", dollars per million tokens"))
            };
            prices.configured.push((
                model.clone(),
                Price {
                    input: dollars("input")?,
                    output: dollars("output")?,
                },
            ));
        }
        Ok(prices)
    }

    /// A model's price: its own, or that of the longest known name it starts with (a dated
    /// snapshot such as `gpt-4.1-mini-2025-04-14` costs what `gpt-4.1-mini` does).
    pub fn of(&self, model: &str) -> Option<Price> {
        let known = || {
            self.configured
                .iter()
                .map(|(name, price)| (name.as_str(), *price))
                .chain(DEFAULTS.iter().copied())
        };
        if let Some((_, price)) = known().find(|(name, _)| *name == model) {
            return Some(price);
        }
        // The longest name that prefixes it; of two as long, the configured one (it comes first).
        let mut best: Option<(usize, Price)> = None;
        for (name, price) in known() {
            let prefixes = model.starts_with(name) && model[name.len()..].starts_with('-');
            if prefixes && best.is_none_or(|(len, _)| name.len() > len) {
                best = Some((name.len(), price));
            }
        }
        best.map(|(_, price)| price)
    }

    /// A call's cost in millionths of a dollar, `None` for a model without a price.
    pub fn cost_micro_usd(&self, model: &str, prompt_tokens: u32, completion_tokens: u32) -> Option<i64> {
        self.of(model).map(|price| {
            // Dollars per million tokens are millionths of a dollar per token.
            (price.input * f64::from(prompt_tokens) + price.output * f64::from(completion_tokens)).round() as i64
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_costs_its_tokens_at_its_models_prices_in_millionths_of_a_dollar() {
        let prices = Prices::default();
        // 1,000 in and 500 out on gpt-4.1: $0.002 + $0.004.
        assert_eq!(prices.cost_micro_usd("gpt-4.1", 1_000, 500), Some(6_000));
        assert_eq!(prices.cost_micro_usd("gpt-4.1-mini-2025-04-14", 1_000_000, 0), Some(400_000));
        assert_eq!(
            prices.cost_micro_usd("gpt-4.10", 10, 10),
            None,
            "a known name is a prefix up to a dash"
        );
        assert_eq!(prices.cost_micro_usd("offline", 5_000, 5_000), Some(0));
        assert_eq!(prices.cost_micro_usd("llama3", 1, 1), None);
    }

    #[test]
    fn configuration_replaces_and_adds_models_and_refuses_nonsense() {
        let prices = Prices::with_overrides(r#"{"gpt-4.1": {"input": 1, "output": 4}, "llama3": {"input": 0, "output": 0}}"#).unwrap();
        assert_eq!(prices.cost_micro_usd("gpt-4.1", 1_000, 500), Some(3_000));
        assert_eq!(
            prices.cost_micro_usd("gpt-4.1-2025-04-14", 1_000, 500),
            Some(3_000),
            "a snapshot of a configured model"
        );
        assert_eq!(prices.cost_micro_usd("llama3", 100, 100), Some(0));
        assert_eq!(prices.cost_micro_usd("gpt-4.1-mini", 1_000_000, 0), Some(400_000));
        for bad in ["[]", r#"{"m": {"input": -1, "output": 1}}"#, r#"{"m": {"input": 1}}"#, "nonsense"] {
            assert!(Prices::with_overrides(bad).is_err(), "{bad}");
        }
    }
}
