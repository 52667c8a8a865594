//! `plan`.

use std::process::ExitCode;

use reqwest::Method;
use serde_json::Value;

use super::client::Client;
use super::files;
use super::{PlanArgs, PlanFormat};

pub async fn plan(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let envs = files::read_all(&args.files)?;
    let client = Client::new(&args.server)?;
    let mut failed = false;
    for (source, env) in envs {
        let name = env.metadata.name.clone();
        let url = client.url(&["api", "v1", "environments", &name, "plan"], &[])?;
        let body = serde_json::to_value(&env)?;
        match client.send(Method::POST, url, Some(&body)).await {
            Ok(response) => {
                let answer: Value = response.json().await?;
                match args.output {
                    PlanFormat::Json => {
                        println!("{}", serde_json::to_string_pretty(&answer["plan"])?)
                    }
                    PlanFormat::Text => {
                        println!("environment/{name}:");
                        let text = answer["text"].as_str().unwrap_or_default();
                        for line in text.lines() {
                            println!("  {line}");
                        }
                    }
                }
            }
            Err(e) => {
                failed = true;
                eprintln!("error: environment/{name} ({source}): {e:#}");
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
