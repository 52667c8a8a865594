//! Reading Environment documents from YAML or JSON text, with the field path of any error.

use serde::de::DeserializeOwned;

use super::Environment;

/// A document that could not be read as an Environment.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ParseError {
    /// Where in the document, e.g. `spec.ecs.services.api.cpu`; `.` for the whole document.
    pub path: String,
    pub message: String,
    /// 0-based index of the document in a multi-document stream.
    pub document: usize,
    /// True when the text is not well-formed YAML/JSON at all (as opposed to well-formed
    /// text that is not a valid Environment).
    pub syntax: bool,
}

/// Text format of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

/// Reads exactly one Environment. JSON is parsed as JSON (better errors), anything else as YAML.
pub fn parse_document(text: &str, format: Format) -> Result<Environment, ParseError> {
    match format {
        Format::Json => from_json(text),
        Format::Yaml => {
            let mut docs = parse_documents(text)?;
            match docs.len() {
                1 => Ok(docs.remove(0)),
                n => Err(ParseError {
                    path: ".".to_owned(),
                    message: format!("expected one document, found {n}"),
                    document: 0,
                    syntax: false,
                }),
            }
        }
    }
}

/// Reads every Environment in a YAML stream (documents separated by `---`; JSON is YAML too).
/// Empty documents are skipped.
pub fn parse_documents(text: &str) -> Result<Vec<Environment>, ParseError> {
    let mut out = Vec::new();
    for (index, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        // Read to a generic value first so that empty documents can be told apart.
        let value: serde_yaml_ng::Value =
            serde_path_to_error::deserialize(doc).map_err(|e| ParseError {
                syntax: true,
                ..error(e, index)
            })?;
        if value.is_null() {
            continue;
        }
        out.push(from_value(value, index)?);
    }
    Ok(out)
}

/// Reads an Environment from an already-parsed JSON value (e.g. the result of a merge patch).
pub fn from_json_value(value: serde_json::Value) -> Result<Environment, ParseError> {
    serde_path_to_error::deserialize(value).map_err(|e| error(e, 0))
}

fn from_json(text: &str) -> Result<Environment, ParseError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let env: Environment = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let syntax = matches!(
            e.inner().classify(),
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof
        );
        ParseError {
            syntax,
            ..error(e, 0)
        }
    })?;
    de.end().map_err(|e| ParseError {
        path: ".".to_owned(),
        message: e.to_string(),
        document: 0,
        syntax: true,
    })?;
    Ok(env)
}

fn from_value<T: DeserializeOwned>(
    value: serde_yaml_ng::Value,
    document: usize,
) -> Result<T, ParseError> {
    serde_path_to_error::deserialize(value).map_err(|e| error(e, document))
}

fn error<E: std::fmt::Display>(e: serde_path_to_error::Error<E>, document: usize) -> ParseError {
    let path = e.path().to_string();
    ParseError {
        path,
        message: e.inner().to_string().trim().to_owned(),
        document,
        syntax: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "apiVersion: plumb.dev/v1\nkind: Environment\nmetadata:\n  name: demo\nspec:\n  region: us-east-1\n";

    #[test]
    fn reads_minimal_yaml_and_json() {
        let env = parse_document(MINIMAL, Format::Yaml).unwrap();
        assert_eq!(env.metadata.name, "demo");
        assert_eq!(env.spec.region, "us-east-1");
        let json = serde_json::to_string(&env).unwrap();
        assert_eq!(parse_document(&json, Format::Json).unwrap(), env);
    }

    #[test]
    fn unknown_field_names_its_path() {
        let text = MINIMAL.replace("region: us-east-1", "region: us-east-1\n  regoin: typo");
        let err = parse_document(&text, Format::Yaml).unwrap_err();
        assert_eq!(err.path, "spec.regoin");
        assert!(err.message.contains("unknown field `regoin`"), "{err}");
    }

    #[test]
    fn wrong_type_names_its_path() {
        let text = format!(
            "{MINIMAL}  ecs:\n    services:\n      api:\n        image: x\n        cpu: lots\n        memory: 512\n        desiredCount: 1\n"
        );
        let err = parse_document(&text, Format::Yaml).unwrap_err();
        assert_eq!(err.path, "spec.ecs.services.api.cpu");
    }

    #[test]
    fn huge_numbers_and_deep_nesting_are_errors() {
        let text = format!(
            "{MINIMAL}  ecs:\n    services:\n      api:\n        image: x\n        cpu: 99999999999999999999999\n        memory: 512\n        desiredCount: 1\n"
        );
        assert!(parse_document(&text, Format::Yaml).is_err());
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_document(&deep, Format::Json).is_err());
        assert!(parse_document(&deep, Format::Yaml).is_err());
    }

    #[test]
    fn multi_document_stream_skips_empty_documents() {
        let text = format!(
            "---\n{MINIMAL}---\n---\n{}",
            MINIMAL.replace("demo", "other")
        );
        let envs = parse_documents(&text).unwrap();
        let names: Vec<_> = envs.iter().map(|e| e.metadata.name.as_str()).collect();
        assert_eq!(names, ["demo", "other"]);
    }

    #[test]
    fn syntax_errors_are_told_apart_from_invalid_documents() {
        let json = serde_json::to_string(&parse_document(MINIMAL, Format::Yaml).unwrap()).unwrap();
        assert!(
            parse_document(&format!("{json} {{"), Format::Json)
                .unwrap_err()
                .syntax
        );
        assert!(
            parse_document("{\"apiVersion\": ", Format::Json)
                .unwrap_err()
                .syntax
        );
        assert!(parse_document("a: [b", Format::Yaml).unwrap_err().syntax);
        assert!(!parse_document("{}", Format::Json).unwrap_err().syntax);
        assert!(!parse_document("a: b", Format::Yaml).unwrap_err().syntax);
    }
}
