//! Every example under the workspace's `examples/` is a valid Environment, and the seed
//! systems they express keep the AWS names their teams already use.

use std::fs;
use std::path::{Path, PathBuf};

use plumb_operator::names;
use plumb_operator::spec::{parse_documents, Environment};
use plumb_operator::validate::validate;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// Every `*.yaml` example, parsed, by file name.
fn examples() -> Vec<(String, Vec<Environment>)> {
    let dir = examples_dir();
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let envs = parse_documents(&text).unwrap_or_else(|e| {
                panic!("{name}: document {}: {}: {}", e.document, e.path, e.message)
            });
            (name, envs)
        })
        .collect()
}

#[test]
fn every_example_parses_and_validates() {
    let examples = examples();
    assert!(
        examples.len() >= 4,
        "expected at least 4 examples in {}, found {}",
        examples_dir().display(),
        examples.len()
    );
    let mut failures = Vec::new();
    for (file, envs) in &examples {
        assert!(!envs.is_empty(), "{file} holds no Environment");
        for env in envs {
            if let Err(errors) = validate(env) {
                for e in errors.0 {
                    failures.push(format!("{file}: {}: {}", e.field, e.reason));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "invalid examples:\n{}",
        failures.join("\n")
    );
}

fn example(file: &str) -> Environment {
    let (_, mut envs) = examples()
        .into_iter()
        .find(|(name, _)| name == file)
        .unwrap_or_else(|| panic!("no example {file}"));
    assert_eq!(envs.len(), 1, "{file} should hold one Environment");
    envs.remove(0)
}

#[test]
fn freeside_keeps_the_arrakis_production_names() {
    let env = example("freeside.yaml");
    let name = env.metadata.name.as_str();
    assert_eq!(names::ecs_cluster(name), "arrakis-production-cluster");
    assert_eq!(names::ecs_service(name, "api"), "arrakis-production-api");
    assert_eq!(names::postgres(name), "arrakis-production-postgres");
    let services: Vec<&str> = env
        .spec
        .ecs
        .as_ref()
        .unwrap()
        .services
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        services,
        [
            "api",
            "gateway",
            "gp-worker",
            "ingestor",
            "nats",
            "pgbouncer",
            "worker"
        ]
    );
}

#[test]
fn arive_keeps_its_cluster_and_service_names() {
    let env = example("arive.yaml");
    let name = env.metadata.name.as_str();
    assert_eq!(names::ecs_cluster(name), "arive-cluster");
    assert_eq!(names::ecs_service(name, "api"), "arive-api");
    assert_eq!(names::ecs_service(name, "worker"), "arive-worker");
    assert_eq!(names::log_group(name, "api"), "/ecs/arive-api");
    assert!(env.spec.postgres.as_ref().unwrap().aurora.is_some());
}
