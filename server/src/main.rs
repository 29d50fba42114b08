//! `roadside-server`: parse the configuration and start (or run `roadside-server audit`,
//! `roadside-server log rollover` or `roadside-server openapi`).
//! Everything else lives in the library.

use std::io::Write;

use clap::Parser;
use roadside_server::config::{Command, Config, LogCommand};
use roadside_server::error::ApiError;
use roadside_server::{audit, bootstrap, shutdown_signal, storage, Server};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = Config::parse();
    if let Some(Command::Openapi) = &config.command {
        return match roadside_server::routes::openapi_json() {
            Ok(json) => {
                println!("{json}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!(
                    "{}",
                    serde_json::json!({"code": e.code, "message": e.message})
                );
                std::process::ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Audit { threads }) = &config.command {
        return audit_command(&config, *threads).await;
    }
    if let Some(Command::Log(LogCommand::Rollover { reason })) = &config.command {
        return match roadside_server::log_rollover(&config, reason).await {
            Ok(done) => {
                println!("{done:#}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!(
                    "{}",
                    serde_json::json!({"code": e.code, "message": e.message})
                );
                std::process::ExitCode::FAILURE
            }
        };
    }
    let server = match Server::prepare(config).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(code = %e.code, "{}", e.message);
            return std::process::ExitCode::FAILURE;
        }
    };
    let base = server.base_url();
    // On stdout whatever the log level: it is how an operator learns to sign in and enrol.
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{}",
            bootstrap::banner(&base, server.state.storage.backend(), &server.seeded)
        );
        let _ = out.flush();
    }
    match server.serve(shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(code = %e.code, "{}", e.message);
            std::process::ExitCode::FAILURE
        }
    }
}

/// `roadside-server audit`: the report as JSON on stdout, a summary on stderr; exit status 0 clean,
/// 1 findings, 2 the audit could not run (its error as JSON on stderr).
async fn audit_command(config: &Config, threads: Option<usize>) -> std::process::ExitCode {
    let run = async {
        let storage = storage::open(&config.database_url()).await?;
        let signer = roadside_server::open_log_signer(&storage, config).await?;
        let mut options = audit::Options::default();
        if let Some(n) = threads {
            options.threads = n.max(1);
        }
        let report = audit::run(&storage, signer.verifier_key(), options).await?;
        audit::record(&storage, &report).await?;
        Ok::<_, ApiError>(report)
    };
    match run.await {
        Ok(report) => {
            match serde_json::to_string_pretty(&report) {
                Ok(json) => println!("{json}"),
                Err(e) => {
                    eprintln!(
                        "{}",
                        serde_json::json!({"code": "AUDIT_REPORT_FAILED", "message": e.to_string()})
                    );
                    return std::process::ExitCode::from(2);
                }
            }
            eprintln!("{}", report.summary());
            for f in report.findings.iter().take(20) {
                let entry = f.entry.as_ref().map_or(String::new(), |e| {
                    format!(
                        " 设备 {} 第 {} 条 {} 叶子 {}",
                        e.device_id, e.seq, e.hash, e.leaf_index
                    )
                });
                eprintln!("  {} [{}]{entry}：{}", f.code, f.table, f.detail);
            }
            if report.findings_total > 20 {
                eprintln!(
                    "  ……其余 {} 处见标准输出的 JSON 报告",
                    report.findings_total - 20
                );
            }
            if report.clean {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!(
                "{}",
                serde_json::json!({"code": e.code, "message": e.message})
            );
            std::process::ExitCode::from(2)
        }
    }
}
