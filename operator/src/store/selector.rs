//! Kubernetes-style label selectors: `team=payments,tier!=dev,critical,!legacy`.

use std::str::FromStr;

/// One clause of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    NotExists(String),
}

/// All clauses must hold. The empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<Requirement>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector clause {clause:?}: {reason}")]
pub struct SelectorError {
    pub clause: String,
    pub reason: &'static str,
}

impl LabelSelector {
    pub fn requirements(&self) -> &[Requirement] {
        &self.0
    }
}

fn valid_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

impl FromStr for LabelSelector {
    type Err = SelectorError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut requirements = Vec::new();
        for clause in text.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            let error = |reason| SelectorError {
                clause: clause.to_owned(),
                reason,
            };
            let requirement = if let Some((key, value)) = clause.split_once("!=") {
                Requirement::NotEquals(key.trim().to_owned(), value.trim().to_owned())
            } else if let Some((key, value)) =
                clause.split_once("==").or_else(|| clause.split_once('='))
            {
                Requirement::Equals(key.trim().to_owned(), value.trim().to_owned())
            } else if let Some(key) = clause.strip_prefix('!') {
                Requirement::NotExists(key.trim().to_owned())
            } else {
                Requirement::Exists(clause.to_owned())
            };
            let (key, value) = match &requirement {
                Requirement::Equals(k, v) | Requirement::NotEquals(k, v) => (k, Some(v)),
                Requirement::Exists(k) | Requirement::NotExists(k) => (k, None),
            };
            if !valid_part(key) {
                return Err(error("keys are letters, digits, '-', '_', '.' and '/'"));
            }
            if let Some(value) = value {
                if !value.is_empty() && !valid_part(value) {
                    return Err(error("values are letters, digits, '-', '_' and '.'"));
                }
            }
            requirements.push(requirement);
        }
        Ok(Self(requirements))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_clause_form() {
        let selector: LabelSelector = "team=payments, tier!=dev,critical,!legacy,app==web"
            .parse()
            .unwrap();
        assert_eq!(
            selector.requirements(),
            [
                Requirement::Equals("team".into(), "payments".into()),
                Requirement::NotEquals("tier".into(), "dev".into()),
                Requirement::Exists("critical".into()),
                Requirement::NotExists("legacy".into()),
                Requirement::Equals("app".into(), "web".into()),
            ]
        );
        assert_eq!(
            "".parse::<LabelSelector>().unwrap(),
            LabelSelector::default()
        );
    }

    #[test]
    fn rejects_malformed_clauses() {
        for bad in ["=x", "a b=c", "team=pay ments", "!", "k=v'; drop"] {
            assert!(bad.parse::<LabelSelector>().is_err(), "{bad}");
        }
    }
}
